"""Structured logs: one JSON object per line on standard error, for every service.

Both structlog loggers and the standard library's (ours and the client libraries') go through
the same processors, so every line carries a timestamp, level, logger name and the message;
context such as ``item_id`` or ``alert_id`` is passed as keyword arguments (structlog) or via
``extra`` (stdlib). Secrets are never passed to a logger in the first place; as a last line of
defence, values of keys that look secret are masked.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("password", "secret", "token", "webhook_url", "authorization", "api_key")
_NOISY = ("kafka", "aiokafka", "httpx", "httpcore", "uvicorn.access")


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_KEYS):
            event[key] = "***"
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route all logging to stderr as JSON (``fmt='json'``) or readable text (``'console'``)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Client libraries log every connection at INFO; keep their warnings.
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
