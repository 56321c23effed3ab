"""Admin's normalizer calls (HBase's normalize, normalizer_switch, normalizer_enabled), and the types they
return.

`normalize()` returns once the master has planned and submitted: each plan is a split or merge procedure
that goes on in the master (`proc_id`; follow it with `get_procedure`). Only tables that opted in with
`TableSettings(normalization_enabled=True)` are planned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from client.base import AdminBase
from meta.types import validate_table_name
from regent.proto import master_pb2


@dataclass(frozen=True, slots=True)
class NormalizationPlan:
    """A split of one region, or a merge of adjacent regions. `proc_id` is the procedure submitted (0 in a
    dry run, or when submitting failed: `error` says why)."""

    kind: str  # "split" or "merge"
    table: str
    region_ids: tuple[int, ...]
    bytes: int  # the region's size (split), or the merged regions' total
    reason: str
    proc_id: int
    error: str


@dataclass(frozen=True, slots=True)
class NormalizerRun:
    """One run of the normalizer. `ran` False: it was skipped and `reason` says why (switched off, regions
    in transition, no table opted in); otherwise `reason` sums up the plans and what was left out (regions
    whose servers did not report their sizes, tables with splits or merges off)."""

    ran: bool
    reason: str
    dry_run: bool
    trigger: bool  # started by the period, not by an operator
    started_ms: int
    finished_ms: int
    tables: int
    regions: int
    plans: tuple[NormalizationPlan, ...]


@dataclass(frozen=True, slots=True)
class NormalizerStatus:
    on: bool
    period_s: float
    last_run: NormalizerRun | None


class NormalizerAdmin(AdminBase):
    """The normalizer."""

    def normalize(
        self, *, dry_run: bool = False, tables: Iterable[str] = (), timeout: float | None = None
    ) -> NormalizerRun:
        """Run the normalizer now over every table that opted in, or only `tables` (each must exist).
        dry_run: plan and submit nothing (it runs with the switch off too)."""
        if isinstance(tables, str):
            raise ValueError(f"tables must be a list of table names, got the string {tables!r}")
        names = list(tables)
        for name in names:
            validate_table_name(name)
        request = master_pb2.NormalizeRequest(dry_run=bool(dry_run), tables=names)
        return normalizer_run_from_proto(self._call("Normalize", request, self._deadline(timeout)))

    def normalizer_switch(self, on: bool, *, timeout: float | None = None) -> bool:
        """Switch the normalizer's periodic runs on or off (kept in meta); return the previous state."""
        if not isinstance(on, bool):
            raise ValueError(f"on must be True or False, got {on!r}")
        request = master_pb2.NormalizerSwitchRequest(on=on)
        response: master_pb2.NormalizerSwitchResponse = self._call(
            "NormalizerSwitch", request, self._deadline(timeout)
        )
        return response.previous

    def normalizer_status(self, *, timeout: float | None = None) -> NormalizerStatus:
        """The switch, the period and the last run (not a dry run) of this master's normalizer."""
        request = master_pb2.NormalizerStatusRequest()
        r: master_pb2.NormalizerStatusResponse = self._call(
            "NormalizerStatus", request, self._deadline(timeout)
        )
        last = normalizer_run_from_proto(r.last_run) if r.HasField("last_run") else None
        return NormalizerStatus(r.on, r.period_s, last)


def normalizer_run_from_proto(msg: master_pb2.NormalizerRun) -> NormalizerRun:
    return NormalizerRun(
        msg.ran,
        msg.reason,
        msg.dry_run,
        msg.trigger,
        msg.started_ms,
        msg.finished_ms,
        msg.tables,
        msg.regions,
        tuple(
            NormalizationPlan(p.kind, p.table, tuple(p.region_ids), p.bytes, p.reason, p.proc_id, p.error)
            for p in msg.plans
        ),
    )


__all__ = ["NormalizationPlan", "NormalizerAdmin", "NormalizerRun", "NormalizerStatus"]
