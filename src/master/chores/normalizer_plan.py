"""The normalizer's planner: tables, their regions and the regions' sizes in, split and merge plans out.
Pure: no I/O, no clock. HBase's SimpleRegionNormalizer (REFERENCE.md §C):

- only tables that opted in (`normalization_enabled`) and are ENABLED; splits only where the table's
  `split_enabled`, merges only where its `merge_enabled` (and the master's split/merge switches are on);
- a region larger than twice the table's average size is split (at its middle row, which its server
  chooses);
- a run of adjacent regions (each one's end key the next one's start key) whose total stays within the
  average is merged, at most `max_merge_regions` at a time (HBASE-28068: one huge merge broke a cluster),
  and only in tables of at least `min_region_count` regions; a region smaller than `min_merge_bytes`
  is left alone, as HBase leaves regions under 1 MB (usually fresh pre-split regions, not yet written);
- at most `max_plans` plans per run, the largest splits first, then merges;
- never a region in transition (not OPEN, or under a procedure), with references (a split daughter or
  merged child whose fold is not done: it cannot split or merge), or whose size is unknown (its server did
  not answer: HBASE-25523's lesson is to plan without it, not to fail). Such a region also breaks a run of
  merges, since merging across it would merge it too. The average is taken over the regions whose size
  is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class NormalizerLimits:
    max_plans: int = 100
    max_merge_regions: int = 100
    min_region_count: int = 3
    min_merge_bytes: int = MIB

    def __post_init__(self) -> None:
        if self.max_plans < 1 or self.max_merge_regions < 2 or self.min_region_count < 1:
            raise ValueError(
                f"normalizer limits: max_plans >= 1, max_merge_regions >= 2, min_region_count >= 1, got "
                f"{self.max_plans}, {self.max_merge_regions}, {self.min_region_count}"
            )


@dataclass(frozen=True, slots=True)
class TableInput:
    name: str
    enabled: bool  # the table is ENABLED
    normalization_enabled: bool
    split_enabled: bool = True
    merge_enabled: bool = True


@dataclass(frozen=True, slots=True)
class RegionInput:
    """An online region of a table (split and merged parents are not given)."""

    region_id: int
    table: str
    start_key: bytes
    end_key: bytes
    size: int | None  # store bytes; None: unknown (its server did not say)
    settled: bool = True  # OPEN with no procedure
    has_references: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    kind: str  # "split" or "merge"
    table: str
    region_ids: tuple[int, ...]
    bytes: int  # the region's size (split), or the merged regions' total
    reason: str


@dataclass(slots=True)
class Plans:
    plans: list[Plan] = field(default_factory=list)
    #: table -> why it was not planned, or what was left out of it ("" when planned in full)
    notes: dict[str, str] = field(default_factory=dict)
    tables: int = 0  # tables looked at (opted in and enabled)
    regions: int = 0  # regions of those tables
    capped: int = 0  # plans left for a later run (max_plans)


def plan(
    tables: Iterable[TableInput],
    regions: Iterable[RegionInput],
    limits: NormalizerLimits = NormalizerLimits(),
    *,
    split_on: bool = True,
    merge_on: bool = True,
) -> Plans:
    by_table: dict[str, list[RegionInput]] = {}
    for r in regions:
        by_table.setdefault(r.table, []).append(r)
    out = Plans()
    splits: list[Plan] = []
    merges: list[Plan] = []
    for table in sorted(tables, key=lambda t: t.name):
        if not table.normalization_enabled:
            out.notes[table.name] = "normalization is not enabled for it (normalization_enabled)"
            continue
        if not table.enabled:
            out.notes[table.name] = "it is not ENABLED"
            continue
        rs = sorted(by_table.get(table.name, ()), key=lambda r: (r.start_key, r.region_id))
        out.tables += 1
        out.regions += len(rs)
        table_splits, table_merges, note = _table(table, rs, limits, split_on, merge_on)
        splits += table_splits
        merges += table_merges
        out.notes[table.name] = note
    splits.sort(key=lambda p: -p.bytes)
    chosen = (splits + merges)[: limits.max_plans]
    out.capped = len(splits) + len(merges) - len(chosen)
    out.plans = chosen
    return out


def _plannable(r: RegionInput) -> bool:
    return r.settled and not r.has_references and r.size is not None


def _table(
    table: TableInput, rs: Sequence[RegionInput], limits: NormalizerLimits, split_on: bool, merge_on: bool
) -> tuple[list[Plan], list[Plan], str]:
    known = [r.size for r in rs if r.size is not None]
    notes = []
    unknown = len(rs) - len(known)
    if unknown:
        notes.append(f"{unknown} regions of unknown size left out")
    if not known:
        return [], [], "; ".join(notes) or "no region"
    average = sum(known) / len(known)
    splits: list[Plan] = []
    if table.split_enabled and split_on:
        for r in rs:
            if _plannable(r) and r.size is not None and average > 0 and r.size > 2 * average:
                reason = f"{r.size:,} bytes, more than twice the table's average ({average:,.0f})"
                splits.append(Plan("split", table.name, (r.region_id,), r.size, reason))
    else:
        notes.append("splits off" if split_on else "splits switched off")
    merges: list[Plan] = []
    if not (table.merge_enabled and merge_on):
        notes.append("merges off" if merge_on else "merges switched off")
    elif len(rs) < limits.min_region_count:
        notes.append(f"fewer than {limits.min_region_count} regions: no merge")
    else:
        split_ids = {p.region_ids[0] for p in splits}
        merges = _merges(table.name, rs, average, limits, split_ids)
    return splits, merges, "; ".join(notes)


def _merges(
    table: str, rs: Sequence[RegionInput], average: float, limits: NormalizerLimits, splitting: set[int]
) -> list[Plan]:
    """Runs of adjacent small regions whose total stays within the average, left to right."""

    def candidate(r: RegionInput) -> bool:
        return (
            _plannable(r)
            and r.region_id not in splitting
            and r.size is not None
            and r.size >= limits.min_merge_bytes
        )

    out: list[Plan] = []
    i = 0
    while i < len(rs):
        if not candidate(rs[i]):
            i += 1
            continue
        run = [rs[i]]
        total = rs[i].size or 0
        j = i + 1
        while j < len(rs) and len(run) < limits.max_merge_regions:
            nxt = rs[j]
            if not candidate(nxt) or nxt.start_key != run[-1].end_key or not run[-1].end_key:
                break
            if total + (nxt.size or 0) > average:
                break
            run.append(nxt)
            total += nxt.size or 0
            j += 1
        if len(run) >= 2:
            reason = (
                f"{len(run)} adjacent regions of {total:,} bytes in all, within the average ({average:,.0f})"
            )
            out.append(Plan("merge", table, tuple(r.region_id for r in run), total, reason))
            i = j
        else:
            i += 1
    return out
