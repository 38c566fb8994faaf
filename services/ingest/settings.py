"""Settings of the ingest service (``BW_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from services.common.settings import CommonSettings
from services.ingest.tokens import ApiToken

FOURTEEN_DAYS_S = 14 * 24 * 3600


class IngestSettings(CommonSettings):
    producer_linger_ms: int = Field(default=5, ge=0, le=1000)
    producer_max_block_ms: int = Field(default=10_000, ge=100)
    producer_request_timeout_ms: int = Field(default=15_000, ge=1000)
    producer_delivery_timeout_ms: int = Field(default=30_000, ge=2000)
    ack_timeout_s: float = Field(default=30.0, gt=0)

    ingest_api_host: str = Field(default="127.0.0.1", description="Address the push API listens on.")
    ingest_api_port: int = Field(default=8088, ge=0, le=65535)
    ingest_api_tokens: list[ApiToken] = Field(
        default_factory=list,
        description='JSON: [{"name": "scraper", "token": "...", "scopes": ["push"]}]; tokens are secret.',
    )
    ingest_api_max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    ingest_api_max_batch: int = Field(default=500, ge=1, le=10_000)
    ingest_api_rate_per_s: float = Field(default=50.0, gt=0, description="Requests per token per second.")
    ingest_api_rate_burst: int = Field(default=100, ge=1, description="Requests per token at once.")
    ingest_api_ack_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest a push waits for the broker."
    )
    ingest_retry_after_s: float = Field(
        default=5.0, gt=0, description="Retry-After while the broker is down."
    )
    ingest_max_inflight: int = Field(
        default=20_000, ge=1, description="Messages sent and not yet acknowledged."
    )
    ingest_seen_ttl_s: int = Field(
        default=FOURTEEN_DAYS_S, ge=60, description="How long an item id stays seen."
    )
    ingest_future_tolerance_s: float = Field(
        default=3600, ge=0, description="Publication times further ahead than this are rejected."
    )
    ingest_normalise_workers: int = Field(
        default=1,
        ge=0,
        le=32,
        description="Processes that normalise large batches beside the producer (0: in-process).",
    )
    ingest_feeds_file: Path = Field(default=Path("config/feeds.yaml"))
    ingest_fetch_timeout_s: float = Field(default=30.0, gt=0, description="Whole fetch of one feed.")
    ingest_fetch_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    ingest_fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    ingest_backoff_cap_s: float = Field(default=3600.0, ge=1, description="Longest wait after failed polls.")

    @model_validator(mode="after")
    def _delivery_outlasts_a_request(self) -> IngestSettings:
        # kafka-python refuses to start otherwise; say so in terms of our settings.
        if self.producer_delivery_timeout_ms <= self.producer_linger_ms + self.producer_request_timeout_ms:
            raise ValueError("BW_PRODUCER_DELIVERY_TIMEOUT_MS must exceed linger + request timeout")
        return self
