"""A RegionServer's HTTP side: its status page (regions, load, master and lease), and the common /metrics,
/stacks, /logs, /status.json (regent.web). Every page also answers as JSON (`?format=json`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from regent import svg
from regent import web as ground
from regionserver import metrics

if TYPE_CHECKING:
    from regionserver.daemon import RegionServer

log = structlog.get_logger("regionserver")

REGIONS_SHOWN = 500


class RegionServerPages:
    def __init__(self, server: RegionServer) -> None:
        self.server = server
        self.templates = ground.templates("regionserver")

    def app(self) -> web.Application:
        return ground.application(
            metrics.REGISTRY,
            self.status,
            [web.get("/", self.index), web.get("/logs", self.logs)],
        )

    def status(self, limit: int = REGIONS_SHOWN) -> dict[str, Any]:
        rs = self.server
        hosting = rs.hosting
        left = rs.lease_until - time.monotonic()
        regions: list[dict[str, Any]] = []
        for state, held in (
            ("OPEN", hosting.online),
            ("OPENING", hosting.opening),
            ("CLAIMING", hosting.claiming),  # opening, its store's claim in flight (regionserver.claims)
        ):
            for region in list(held.values())[: max(0, limit - len(regions))]:
                regions.append(
                    {
                        "region_id": region.region_id,
                        "table": region.table,
                        "start_key": ground.key_text(region.start_key),
                        "end_key": ground.key_text(region.end_key),
                        "state": state,
                        "online_ms": region.online_ms,
                        "requests": region.requests,
                        "store_bytes": _store_bytes(region.store),
                        "open_seq_num": region.open_seq_num,
                    }
                )
        tables: dict[str, int] = {}
        for region in list(hosting.online.values()):
            tables[region.table] = tables.get(region.table, 0) + 1
        return {
            "server": {
                "name": str(rs.name),
                "start_ms": rs.name.startcode,
                "registered": rs.registered.is_set(),
                "epoch": rs.epoch,
            },
            "master": {
                "active": rs.link.address or "",
                "known": list(rs.link.known.all),
                "heartbeat_s": rs.heartbeat_s,
                "lease_s": rs.lease_s,
                "lease_remaining_s": round(max(0.0, left), 3) if left != float("inf") else None,
                "leased": rs.leased(),
            },
            "load": {
                "regions": len(hosting.online),
                "opening": len(hosting.opening),
                "claiming": len(hosting.claiming),
                "requests": rs.load.requests,
                "regions_by_table": dict(sorted(tables.items())),
                "store_bytes": metrics.store_bytes(rs),
            },
            "regions": regions,
            "regions_shown": len(regions),
        }

    async def index(self, request: web.Request) -> web.StreamResponse:
        limit = ground.query_int(request, "limit", REGIONS_SHOWN, 1, 100_000)
        doc = self.status(limit)
        if request.query.get("format") == "json":
            return ground.json_response(doc)
        picture = svg.bars(list(doc["load"]["regions_by_table"].items()), title="Regions per table")
        return ground.render(self.templates, "regionserver.html", doc=doc, picture=picture)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        doc = ground.logs_document(request)
        if request.query.get("format") == "json":
            return ground.json_response(doc)
        return ground.render(self.templates, "logs.html", daemon=f"RegionServer {self.server.name}", **doc)


def _store_bytes(store: Any) -> int:
    path = getattr(store, "path", None)
    if path is None:
        return 0
    try:
        return int((path / "data.mdb").stat().st_size)
    except OSError:
        return 0


async def start(server: RegionServer) -> ground.HttpSide:
    """Serve the page on the server's --http-host:--http-port (0: a free port); log where."""
    from regionserver.daemon import RegionServerStartError

    metrics.REGISTRY.register(metrics.RegionServerCollector(server))
    side = ground.HttpSide(RegionServerPages(server).app())
    host, port = server.config.http_host, server.config.http_port
    try:
        bound = await side.start(host, port)
    except OSError as exc:
        raise RegionServerStartError(
            f"cannot serve the status page on {host}:{port}: {exc.strerror}"
        ) from None
    log.info("http_started", url=f"http://{host}:{bound}/", port=bound)
    return side
