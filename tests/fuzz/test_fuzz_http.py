"""The HTTP APIs fuzzed from their own OpenAPI descriptions (schemathesis), over real HTTP.

The push API runs as the real ingest process (uvicorn, the broker and Redis behind it); the
silences API on a real uvicorn with real Redis. Every answer must be a clear 2xx or 4xx (never a
5xx), within the client's timeout, and match the documented responses. A second pass sends
hand-made hostile bodies that a schema-driven generator rarely produces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.core.result import Ok

from tests.fuzz.apis import ADMIN_TOKEN, PUSH_TOKEN, SilencesServer, start_ingest
from tests.fuzz.cases import ran
from tests.fuzz.hostile import nested
from tests.integration.ingest_helpers import IngestProcess

pytestmark = pytest.mark.integration
TIMEOUT_S = 30.0
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def ingest(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestProcess]:
    namespace = f"fuzz-{uuid.uuid4().hex[:10]}"
    process = start_ingest(
        kafka_bootstrap,
        redis_url,
        namespace,
        tmp_path_factory.mktemp("fuzz-ingest"),
        BW_INGEST_API_RATE_PER_S="10000",
        BW_INGEST_API_RATE_BURST="10000",
    )
    try:
        yield process
    finally:
        process.stop()
        assert "Traceback" not in process.log(), process.log()[-3000:]


@pytest.fixture(scope="module")
def silences(redis_url: str) -> Iterator[SilencesServer]:
    with SilencesServer(redis_url, f"fuzz-{uuid.uuid4().hex[:10]}") as server:
        yield server


def fuzz_operations(base_url: str, token: str, label: str, max_examples: int, checks: list[Any]) -> int:
    """Run generated requests (positive and negative) against every operation the API documents;
    returns how many were sent. Uses schemathesis' Python API with hypothesis directly."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    sent = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise AssertionError(f"the OpenAPI description has an invalid operation: {result}")
        operation = result.ok()
        where = f"{label} {operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            nonlocal sent
            response = case.call(headers={"authorization": f"Bearer {token}"}, timeout=TIMEOUT_S)
            sent += 1
            ran(f"http: {where} (schemathesis)")  # noqa: B023 - runs before the loop moves on
            case.validate_response(response, checks=checks)

        exercise()
    return sent


def test_push_api_answers_every_generated_request_with_a_documented_2xx_or_4xx(ingest: IngestProcess) -> None:
    sent = fuzz_operations(ingest.url, PUSH_TOKEN, "push API", 60, CHECKS)
    assert sent >= 60


def test_silences_api_answers_every_generated_request_with_2xx_or_4xx(silences: SilencesServer) -> None:
    sent = fuzz_operations(silences.url, ADMIN_TOKEN, "silences API", 25, [not_a_server_error])
    assert sent >= 25


def _item(**update: object) -> dict[str, object]:
    return {
        "source": "fuzz",
        "title": "Torkham crossing closed after clashes",
        "url": f"https://fuzz.example/{uuid.uuid4().hex}",
        "published_at": "2025-11-20T10:00:00Z",
        **update,
    }


HOSTILE_BODIES: dict[str, bytes] = {
    "deeply nested array": nested(100_000),
    "deeply nested object": nested(10_000, "object"),
    "number too long": b'{"source": "x", "title": ' + b"9" * 5000 + b"}",
    "float overflow": b'{"source": "x", "title": "t", "published_at": 1e400}',
    "invalid UTF-8": b'{"source": "x", "title": "\xff\xfe"}',
    "lone surrogate escape": b'{"source": "x", "title": "\\ud800"}',
    "date past datetime.max in UTC": json.dumps(_item(published_at="9999-12-31T23:59:59-05:00")).encode(),
    "date before datetime.min in UTC": json.dumps(_item(published_at="0001-01-01T00:00:00+05:00")).encode(),
    "RFC 822 year overflow": json.dumps(
        _item(published_at="Mon, 01 Jan 99999999999 00:00:00 +0500")
    ).encode(),
    "epoch overflow": json.dumps(_item(published_at=10**30)).encode(),
    "empty": b"",
    "null": b"null",
    "empty array": b"[]",
    "array of non-objects": b'[1, "two", null]',
    "unknown field": json.dumps(_item(admin=True)).encode(),
    "javascript link": json.dumps(_item(url="javascript:alert(1)")).encode(),
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
def test_hostile_push_bodies_are_answered_with_a_clear_4xx(ingest: IngestProcess, name: str) -> None:
    ran("http: hostile push bodies")
    with httpx.Client(base_url=ingest.url, timeout=TIMEOUT_S) as http:
        answer = http.post(
            "/v1/items",
            content=HOSTILE_BODIES[name],
            headers={"authorization": f"Bearer {PUSH_TOKEN}", "content-type": "application/json"},
        )
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.json()["error"]


def test_large_and_chunked_bodies_get_413_from_both_apis(
    ingest: IngestProcess, silences: SilencesServer
) -> None:
    ran("http: oversized bodies")

    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 8192):
            yield b" " * 8192

    with httpx.Client(timeout=TIMEOUT_S) as http:
        push_auth = {"authorization": f"Bearer {PUSH_TOKEN}"}
        admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        declared = http.post(f"{ingest.url}/v1/items", content=b" " * 70_000, headers=push_auth)
        streamed = http.post(f"{ingest.url}/v1/items", content=chunks(200_000), headers=push_auth)
        assert (declared.status_code, streamed.status_code) == (413, 413)
        declared = http.post(f"{silences.url}/v1/silences", content=b" " * 70_000, headers=admin)
        streamed = http.post(f"{silences.url}/v1/silences", content=chunks(200_000), headers=admin)
        assert (declared.status_code, streamed.status_code) == (413, 413)
        batch = http.post(f"{ingest.url}/v1/items", json=[_item() for _ in range(21)], headers=push_auth)
        assert batch.status_code == 413 and "exceeds 20" in batch.json()["error"]


def test_the_openapi_description_lists_the_security_answers(ingest: IngestProcess, tmp_path: Path) -> None:
    with httpx.Client(base_url=ingest.url, timeout=TIMEOUT_S) as http:
        described = http.get("/openapi.json").json()["paths"]["/v1/items"]["post"]["responses"]
    assert {"202", "400", "401", "403", "413", "429", "503"} <= set(described)
