"""Creating the registry's topics on the broker (idempotent)."""

from __future__ import annotations

import contextlib
import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.topics import TOPICS
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


def ensure_topics(settings: CommonSettings, timeout_s: float = 30.0) -> list[str]:
    """Create every registry topic that does not exist yet; return the names created."""
    topics = [
        NewTopic(
            name=spec.name(settings.topic_namespace), num_partitions=spec.partitions, replication_factor=1
        )
        for spec in TOPICS.values()
    ]
    return _create_missing(settings, topics, timeout_s)


def ensure_compacted_topics(
    settings: CommonSettings, names: list[str], partitions: int, timeout_s: float = 30.0
) -> list[str]:
    """Create the compacted topics among ``names`` that do not exist yet (a state store's
    changelogs); return the names created. Creating them before a consumer group that reads them
    joins means the group's first assignment sees them in the metadata."""
    topics = [
        NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=1,
            topic_configs={"cleanup.policy": "compact"},
        )
        for name in names
    ]
    return _create_missing(settings, topics, timeout_s)


def _create_missing(settings: CommonSettings, topics: list[NewTopic], timeout_s: float) -> list[str]:
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_list,
        client_id="borderwatch-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        wanted = [t for t in topics if t.name not in existing]
        if not wanted:
            return []
        # Another process may create them between our list and our create.
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
        created = [t.name for t in wanted]
        log.info("created topics %s", created)
        return created
    finally:
        admin.close()
