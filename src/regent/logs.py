"""Logging for every Regent process: structlog, JSON lines when stderr is not a terminal, readable console
output when it is; every line bound to the process's identity."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from regent import recent_logs


def configure(process: str, *, level: str = "info", json: bool | None = None, **identity: Any) -> None:
    """Configure structlog for this process. `identity` (e.g. server="host:port") is bound to every line."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            recent_logs.keep,  # the /logs page of the daemon's HTTP side
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(process=process, **identity)
