from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.services import Started, find_kafka, find_redis


@pytest.fixture(scope="session")
def _started() -> Iterator[Started]:
    started = Started()
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def kafka_bootstrap(_started: Started) -> str:
    """A Kafka broker address (see tests/services.py for how it is found or started)."""
    return find_kafka(_started)


@pytest.fixture(scope="session")
def redis_url(_started: Started) -> str:
    return find_redis(_started)


@pytest.fixture
def namespace() -> str:
    """A fresh topic namespace (and Redis key prefix) per test."""
    return f"test-{uuid.uuid4().hex[:12]}"
