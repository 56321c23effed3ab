"""The master's HTTP side: status pages and /metrics (see pages), started with the daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from master import metrics
from master.errors import MasterStartError
from master.http.pages import MasterPages
from regent.web import HttpSide

if TYPE_CHECKING:
    from master.daemon import Master

__all__ = ["MasterPages", "start"]

log = structlog.get_logger("master")


async def start(master: Master) -> HttpSide:
    """Serve the pages on the master's --http-host:--http-port (0: a free port); log where."""
    metrics.REGISTRY.register(metrics.MasterCollector(master))
    side = HttpSide(MasterPages(master).app())
    host, port = master.config.http_host, master.config.http_port
    try:
        bound = await side.start(host, port)
    except OSError as exc:
        raise MasterStartError(f"cannot serve the status pages on {host}:{port}: {exc.strerror}") from None
    log.info("http_started", url=f"http://{_host(host)}:{bound}/", port=bound)
    return side


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
