"""The daemon's recent log lines, kept in memory for its /logs page (ground).

A structlog processor placed just before the renderer (regent.logs) keeps a shallow copy of each event
dict in a ring of RECENT_LINES: about a microsecond per line, and lines are per batch on hot paths.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping
from typing import Any

RECENT_LINES = 2000

_lines: deque[dict[str, Any]] = deque(maxlen=RECENT_LINES)


def keep(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remember the event, pass it on unchanged."""
    _lines.append(dict(event_dict))
    return event_dict


def recent(limit: int = RECENT_LINES, level: str = "") -> list[dict[str, Any]]:
    """The last `limit` events (of `level` and above, if given), oldest first."""
    lines = list(_lines)
    if level:
        floor = _LEVELS.get(level, 0)
        lines = [line for line in lines if _LEVELS.get(str(line.get("level", "")), 0) >= floor]
    return lines[-limit:] if limit > 0 else []


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50, "exception": 40}
