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
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_list,
        client_id="borderwatch-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                name=spec.name(settings.topic_namespace), num_partitions=spec.partitions, replication_factor=1
            )
            for spec in TOPICS.values()
            if spec.name(settings.topic_namespace) not in existing
        ]
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
