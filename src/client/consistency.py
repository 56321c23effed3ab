"""Admin's consistency calls: the catalog janitor's report (HBase's catalogjanitor_run,
catalogjanitor_switch, catalogjanitor_enabled) and hbck, and the types they return."""

from __future__ import annotations

from dataclasses import dataclass

from client.base import AdminBase
from regent.proto import master_pb2

#: Finding kinds (docs/operations.md#consistency-the-catalog-janitor-and-hbck).
KINDS = (
    "hole",
    "overlap",
    "unknown_server",
    "stuck",
    "not_served",
    "served_elsewhere",
    "orphan_on_server",
    "meta_mismatch",
    "orphan_dir",
    "unfinished_child",
    "not_deployed",
    "orphan_parent",
    "references_unreadable",
    "broken_reference",
    "stray_references",
)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str
    table: str
    region_id: int
    server: str
    path: str
    fix: str  # what hbck's fix does about it, "" if nothing
    fixed: bool
    fix_error: str


@dataclass(frozen=True, slots=True)
class SplitParent:
    """A SPLIT or MERGED parent the catalog janitor removed (its store, then its rows), or kept (`reason`
    says why: a child still references its store, a child is still opening, ...)."""

    region_id: int
    table: str
    kind: str  # "split" or "merge"
    children: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    started_ms: int
    ms: int
    findings: tuple[Finding, ...]
    regions: int
    servers: int
    unreachable: tuple[str, ...]
    fix: bool
    #: the catalog janitor only (empty for hbck): parents removed in this run, the first 100 kept (all
    #: counted in parents_kept), and why the removal stopped short ("" if it did not)
    removed_parents: tuple[SplitParent, ...] = ()
    kept_parents: tuple[SplitParent, ...] = ()
    parents_kept: int = 0
    parents_error: str = ""

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


@dataclass(frozen=True, slots=True)
class CatalogJanitorStatus:
    on: bool
    period_s: float
    last_report: CheckReport | None


class ConsistencyAdmin(AdminBase):
    """The catalog janitor and hbck."""

    def catalog_janitor_run(self, *, timeout: float | None = None) -> CheckReport:
        """Run the catalog janitor now: remove the split and merged parents no child references any more
        (`removed_parents`), then report holes and overlaps in meta, regions on unknown servers, regions
        stuck in transition. Kept as its last report."""
        request = master_pb2.CatalogJanitorRunRequest()
        return report_from_proto(self._call("CatalogJanitorRun", request, self._deadline(timeout)))

    def catalog_janitor_switch(self, on: bool, *, timeout: float | None = None) -> bool:
        """Switch the catalog janitor's periodic runs (kept in meta); return the previous state."""
        if not isinstance(on, bool):
            raise ValueError(f"on must be True or False, got {on!r}")
        request = master_pb2.CatalogJanitorSwitchRequest(on=on)
        response: master_pb2.CatalogJanitorSwitchResponse = self._call(
            "CatalogJanitorSwitch", request, self._deadline(timeout)
        )
        return response.previous

    def catalog_janitor_status(self, *, timeout: float | None = None) -> CatalogJanitorStatus:
        request = master_pb2.CatalogJanitorStatusRequest()
        r: master_pb2.CatalogJanitorStatusResponse = self._call(
            "CatalogJanitorStatus", request, self._deadline(timeout)
        )
        last = report_from_proto(r.last_report) if r.HasField("last_report") else None
        return CatalogJanitorStatus(r.on, r.period_s, last)

    def hbck(
        self, *, fix: bool = False, remove_orphan_dirs: bool = False, timeout: float | None = None
    ) -> CheckReport:
        """Compare meta, the master's memory, what every RegionServer serves and the region directories
        on disk, and read the REFERENCES files of split and merge children. fix: reassign regions served
        nowhere, close regions served where meta does not place them, open children a bypassed split or
        merge left unopened, assign regions left closed with no procedure in an enabled table;
        remove_orphan_dirs (with fix): remove orphan store directories too."""
        if remove_orphan_dirs and not fix:
            raise ValueError("remove_orphan_dirs is a repair: give fix=True as well")
        request = master_pb2.HbckRequest(fix=bool(fix), remove_orphan_dirs=bool(remove_orphan_dirs))
        return report_from_proto(self._call("Hbck", request, self._deadline(timeout)))


def report_from_proto(msg: master_pb2.CheckReport) -> CheckReport:
    return CheckReport(
        msg.started_ms,
        msg.ms,
        tuple(
            Finding(f.kind, f.detail, f.table, f.region_id, f.server, f.path, f.fix, f.fixed, f.fix_error)
            for f in msg.findings
        ),
        msg.regions,
        msg.servers,
        tuple(msg.unreachable),
        msg.fix,
        tuple(_parent(p) for p in msg.removed_parents),
        tuple(_parent(p) for p in msg.kept_parents),
        msg.parents_kept,
        msg.parents_error,
    )


def _parent(msg: master_pb2.SplitParent) -> SplitParent:
    return SplitParent(msg.region_id, msg.table, msg.kind, tuple(msg.children), msg.reason)


__all__ = ["KINDS", "CatalogJanitorStatus", "CheckReport", "ConsistencyAdmin", "Finding", "SplitParent"]
