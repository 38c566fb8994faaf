"""Settings shared by every service, read from ``BW_*`` environment variables.

Each service has one settings class that extends :class:`CommonSettings`; it is built once in
the service's wiring module and passed down.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DEFAULT_NAMESPACE, TopicKey, topic_name


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BW_", extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    topic_namespace: str = Field(
        default=DEFAULT_NAMESPACE,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Prefix of every topic name; lets deployments share one broker.",
    )
    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"), description="May carry a password, so secret."
    )
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    def topic(self, key: TopicKey) -> str:
        return topic_name(key, self.topic_namespace)

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]
