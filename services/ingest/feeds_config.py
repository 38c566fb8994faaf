"""The feeds file (``config/feeds.yaml``): which feeds to poll, how often, with which headers.

Validated in full at start-up with :func:`services.common.yaml_config.load_yaml_model`, so a
mistake names the file, line and field. Header values may carry credentials: they are kept as
secrets and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from services.common.yaml_config import load_yaml_model


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Stable id; also the metrics label.")
    url: str = Field(max_length=2048)
    interval_s: float = Field(default=300, ge=1, le=86_400, description="Seconds between polls.")
    source: str | None = Field(default=None, max_length=200, description="Outlet name; the id by default.")
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        return value

    @property
    def source_name(self) -> str:
        return self.source or self.id

    def request_headers(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.headers.items()}


class FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    feeds: list[FeedConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> FeedsFile:
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.id in seen:
                raise ValueError(f"feed id {feed.id!r} is listed twice")
            seen.add(feed.id)
        return self

    @property
    def enabled(self) -> list[FeedConfig]:
        return [f for f in self.feeds if f.enabled]


def load_feeds(path: str | Path) -> FeedsFile:
    """Load and validate the feeds file; raises ``ConfigError`` with file, line and field."""
    return load_yaml_model(path, FeedsFile)
