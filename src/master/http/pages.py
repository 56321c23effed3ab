"""The master's HTTP side: status page, procedures and locks, a region's place and story, logs, and the
common /metrics, /stacks, /status.json (regent.web). Every page also answers as JSON (`?format=json`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from master import metrics
from master.http.status import History, TableCounts, document, procedures_document
from regent import svg
from regent import web as ground

if TYPE_CHECKING:
    from master.daemon import Master

SAMPLE_S = 5.0


class MasterPages:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.history = History(sample_s=SAMPLE_S)
        self.tables = TableCounts()
        self.templates = ground.templates("master.http")
        self._sampler: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        app = ground.application(
            metrics.REGISTRY,
            self.status,
            [
                web.get("/", self.index),
                web.get("/procedures", self.procedures),
                web.get("/region", self.region),
                web.get("/logs", self.logs),
            ],
        )
        app.on_startup.append(self._start_sampler)
        app.on_cleanup.append(self._stop_sampler)
        return app

    async def _start_sampler(self, app: web.Application) -> None:
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="status-sampler")

    async def _stop_sampler(self, app: web.Application) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

    async def _sample(self) -> None:
        while True:
            self.history.sample(self.master.active, metrics.transitions_total)
            await asyncio.sleep(SAMPLE_S if self.history.rit else 0.5)  # the first sample soon

    def status(self) -> dict[str, Any]:
        return document(self.master, self.history, self.tables)

    async def index(self, request: web.Request) -> web.StreamResponse:
        doc = self.status()
        if request.query.get("format") == "json":
            return ground.json_response(doc)
        pictures = {}
        if "servers" in doc:
            pictures["regions_per_server"] = svg.bars(
                [(s["address"], s["regions"]) for s in doc["servers"]], title="Regions per RegionServer"
            )
            span = f"{len(doc['history']['transitions']) * SAMPLE_S / 60:.0f} min"
            pictures["history"] = svg.chart(
                [
                    ("transitions per sample", doc["history"]["transitions"]),
                    ("regions in transition", doc["history"]["regions_in_transition"]),
                ],
                title=f"Transitions and regions in transition, every {SAMPLE_S:g} s",
                span=span,
            )
        return ground.render(self.templates, "master.html", doc=doc, pictures=pictures)

    async def procedures(self, request: web.Request) -> web.StreamResponse:
        limit = ground.query_int(request, "limit", 1000, 1, 100_000)
        active = self.master.active
        if active is None:
            raise web.HTTPServiceUnavailable(text=self._not_active())
        doc = procedures_document(active, limit)
        if request.query.get("format") == "json":
            return ground.json_response(doc)
        return ground.render(self.templates, "procedures.html", doc=doc, master=self.master.config.address)

    async def region(self, request: web.Request) -> web.StreamResponse:
        """A region by id (`id`), or the region holding a row (`table` and `row`, \\xNN escapes allowed)."""
        active = self.master.active
        if active is None:
            raise web.HTTPServiceUnavailable(text=self._not_active())
        query = request.query
        node = None
        wanted = ""
        if query.get("id", "").strip():
            region_id = ground.query_int(request, "id", 0, 0, 2**63 - 1)
            node = active.am.regions.get(region_id)
            wanted = f"region {region_id}"
        elif query.get("table"):
            table = query["table"]
            try:
                row = ground.parse_key(query.get("row", ""))
            except ValueError as exc:
                raise web.HTTPBadRequest(text=f"row: {exc}\n") from None
            if table not in active.catalog.tables:
                raise web.HTTPNotFound(text=f"no table {table[:100]!r}\n")
            node = active.catalog.regions.locate(table, row)
            wanted = f"the region of table {table} holding row {ground.key_text(row)}"
        else:
            raise web.HTTPBadRequest(text="give id=REGION_ID, or table=TABLE and row=ROW\n")
        if node is None:
            raise web.HTTPNotFound(text=f"{wanted}: no such region\n")
        steps = active.story.of(node.region_id)
        doc = {
            "region_id": node.region_id,
            "table": node.info.table,
            "start_key": ground.key_text(node.info.start_key),
            "end_key": ground.key_text(node.info.end_key),
            "state": node.state.name,
            "server": str(node.server) if node.server else "",
            "proc_id": node.proc_id,
            "procedure": node.kind.name.lower(),
            "story": [
                {
                    "time_ms": s.time_ms,
                    "state": s.state.name,
                    "server": s.server,
                    "proc_id": s.proc_id,
                    "procedure": s.procedure,
                    "cause": s.cause,
                    "persisted": s.persisted,
                }
                for s in steps
            ],
        }
        if query.get("format") == "json":
            return ground.json_response(doc)
        return ground.render(self.templates, "region.html", doc=doc, wanted=wanted)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        doc = ground.logs_document(request)
        if request.query.get("format") == "json":
            return ground.json_response(doc)
        return ground.render(
            self.templates, "logs.html", daemon=f"master {self.master.config.address}", **doc
        )

    def _not_active(self) -> str:
        active = self.master.active_master()
        where = f" (the active master is {active}: its page has it)" if active else ""
        return f"this master is not the active one{where}\n"
