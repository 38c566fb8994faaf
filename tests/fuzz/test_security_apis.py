"""Who may call the push and silences APIs, how often: 401, 403 and 429 over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from services.common.auth import ApiToken, RateLimiter, find_token
from tests.fuzz.apis import (
    ADMIN_TOKEN,
    LEGACY_ADMIN_TOKEN,
    PUSH_TOKEN,
    READ_TOKEN,
    SilencesServer,
    start_ingest,
)
from tests.fuzz.cases import ran
from tests.integration.ingest_helpers import IngestProcess


def _item() -> dict[str, str]:
    return {"source": "security", "title": "Chaman reopens", "url": f"https://sec.example/{uuid.uuid4().hex}"}


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


WRONG = [
    {},
    {"authorization": ""},
    {"authorization": "Bearer"},
    {"authorization": f"Basic {PUSH_TOKEN}"},
    {"authorization": f"Bearer {PUSH_TOKEN[:-1]}"},
    {"authorization": f"Bearer {PUSH_TOKEN}x"},
    {"authorization": f"Bearer {PUSH_TOKEN.upper()}"},
    {"authorization": "Bearer " + "p" * 10_000},
]


# -- pure parts ------------------------------------------------------------------------------


class CountingSecret(SecretStr):
    reads = 0

    def get_secret_value(self) -> str:
        CountingSecret.reads += 1
        return super().get_secret_value()


def test_every_token_is_compared_whichever_matches() -> None:
    tokens = [ApiToken(name=f"t{i}", token=CountingSecret(f"token-{i:02d}-" + "x" * 16)) for i in range(5)]
    for presented in ("token-00-" + "x" * 16, "token-04-" + "x" * 16, "nope"):
        CountingSecret.reads = 0
        find_token(tokens, f"Bearer {presented}")
        assert CountingSecret.reads == len(tokens)  # no early exit: timing does not tell which


def test_admin_scope_grants_everything_and_others_only_their_own() -> None:
    admin = ApiToken(name="a", token=SecretStr("a" * 16), scopes=frozenset({"admin"}))
    push = ApiToken(name="p", token=SecretStr("p" * 16), scopes=frozenset({"push"}))
    assert admin.allows("push") and admin.allows("read") and admin.allows("admin")
    assert push.allows("push") and not push.allows("read") and not push.allows("admin")
    assert "p" * 16 not in repr(push) and "p" * 16 not in str(push.model_dump())


def test_rate_limiter_is_a_bucket_per_token() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, now=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("a")
    assert wait is not None and 0.49 <= wait <= 0.51
    assert limiter.acquire("b") is None  # another token has its own bucket
    now[0] += 0.5
    assert limiter.acquire("a") is None and limiter.acquire("a") is not None


# -- push API (the real ingest process) -------------------------------------------------------


@pytest.fixture(scope="module")
def ingest(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestProcess]:
    process = start_ingest(
        kafka_bootstrap,
        redis_url,
        f"sec-{uuid.uuid4().hex[:10]}",
        tmp_path_factory.mktemp("sec-ingest"),
        BW_INGEST_API_RATE_PER_S="0.2",
        BW_INGEST_API_RATE_BURST="4",
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.integration
def test_push_api_refuses_missing_wrong_and_unscoped_tokens(ingest: IngestProcess) -> None:
    with httpx.Client(base_url=ingest.url, timeout=30) as http:
        for headers in WRONG:
            ran("security: push API auth")
            answer = http.post("/v1/items", json=_item(), headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
        assert http.post("/v1/items", json=_item(), headers=_bearer(READ_TOKEN)).status_code == 403
        assert http.get("/v1/feeds", headers=_bearer(PUSH_TOKEN)).status_code == 403
        assert http.get("/v1/feeds", headers=_bearer(READ_TOKEN)).status_code == 200
        assert http.get("/v1/feeds", headers=_bearer(ADMIN_TOKEN)).status_code == 200
    assert PUSH_TOKEN not in ingest.log() and "p" * 24 not in ingest.log()


@pytest.mark.integration
def test_push_api_rate_limits_each_token_with_429_and_retry_after(ingest: IngestProcess) -> None:
    ran("security: push API rate limit")
    with httpx.Client(base_url=ingest.url, timeout=30) as http:
        answers = [http.post("/v1/items", json=_item(), headers=_bearer(ADMIN_TOKEN)) for _ in range(6)]
        codes = [a.status_code for a in answers]
        assert codes[:4] == [202] * 4 and codes[4:] == [429, 429], codes
        assert 1 <= int(answers[-1].headers["retry-after"]) <= 5
        # Another token is not slowed down by the first one's burst.
        assert http.post("/v1/items", json=_item(), headers=_bearer(PUSH_TOKEN)).status_code == 202


# -- silences API ----------------------------------------------------------------------------


@pytest.fixture
def silences(redis_url: str) -> Iterator[SilencesServer]:
    with SilencesServer(redis_url, f"sec-{uuid.uuid4().hex[:10]}", rate_per_s=1.0, rate_burst=3) as server:
        yield server


def _silence() -> dict[str, object]:
    return {
        "matchers": [{"name": "group.crossing", "value": "Torkham"}],
        "ends_at": "2099-01-01T00:00:00Z",
        "created_by": "ops",
        "comment": "planned closure",
    }


@pytest.mark.integration
def test_silences_need_a_token_with_the_right_scope(silences: SilencesServer) -> None:
    with httpx.Client(base_url=silences.url, timeout=30) as http:
        for headers in WRONG:
            ran("security: silences API auth")
            assert http.post("/v1/silences", json=_silence(), headers=headers).status_code == 401, headers
            assert http.get("/v1/silences", headers=headers).status_code == 401, headers
        # A push token may not mute alerts, nor read what is muted.
        assert http.post("/v1/silences", json=_silence(), headers=_bearer(PUSH_TOKEN)).status_code == 403
        assert http.get("/v1/silences", headers=_bearer(PUSH_TOKEN)).status_code == 403
        # A read token lists, but neither creates nor expires.
        assert http.post("/v1/silences", json=_silence(), headers=_bearer(READ_TOKEN)).status_code == 403
        created = http.post("/v1/silences", json=_silence(), headers=_bearer(ADMIN_TOKEN))
        assert created.status_code == 201
        sid = created.json()["id"]
        silences.clock.advance(10)
        assert http.get("/v1/silences", headers=_bearer(READ_TOKEN)).status_code == 200
        assert http.delete(f"/v1/silences/{sid}", headers=_bearer(READ_TOKEN)).status_code == 403
        assert http.delete(f"/v1/silences/{sid}", headers=_bearer(LEGACY_ADMIN_TOKEN)).status_code == 200


@pytest.mark.integration
def test_silences_api_rate_limits_each_token(silences: SilencesServer) -> None:
    ran("security: silences API rate limit")
    with httpx.Client(base_url=silences.url, timeout=30) as http:
        codes = [http.get("/v1/silences", headers=_bearer(ADMIN_TOKEN)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = http.get("/v1/silences", headers=_bearer(ADMIN_TOKEN))
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        assert http.get("/v1/silences", headers=_bearer(READ_TOKEN)).status_code == 200
        silences.clock.advance(1.0)
        assert http.get("/v1/silences", headers=_bearer(ADMIN_TOKEN)).status_code == 200
