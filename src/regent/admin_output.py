"""How `regent admin` shows things: tables for people, one JSON document for scripts, progress on stderr.

A command builds a Result (its JSON document and the blocks of its text: lines and tables); `emit` prints
one or the other on stdout. Tables are drawn by rich on a terminal (bold header, fitted to the width); in
a pipe, or past RICH_ROWS rows (rich takes about 0.3 ms a row), the same layout is written plainly, so
what a script greps is what a person sees. Progress bars go to stderr only, and only when it is a
terminal or --progress asks for them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from client.types import Procedure, RegionLocation, TableDescription

#: Above this many rows a table is written plainly even on a terminal.
RICH_ROWS = 5000
_GAP = "   "


@dataclass(slots=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(slots=True)
class Result:
    """What one command printed: `data` with --json, else `blocks` (lines and tables) in order."""

    data: dict[str, Any]
    blocks: list[str | Table] = field(default_factory=list)
    exit_code: int = 0  # after printing (hbck: inconsistencies left)


def no_arguments(parser: Any, positive: Callable[[str], int]) -> None:
    """The argument builder of an admin command that takes none."""


def emit(result: Result, as_json: bool) -> None:
    # print(), not one write of text + "\n": with unbuffered stdout (python -u, PYTHONUNBUFFERED) a write
    # to a pipe whose reader left is cut short without an error, and only the next write raises
    # BrokenPipeError, which the CLI turns into its quiet exit status 141.
    if as_json:
        print(json.dumps(result.data, default=str))
        return
    terminal = sys.stdout.isatty()
    for block in result.blocks:
        if isinstance(block, Table):
            if terminal and len(block.rows) <= RICH_ROWS:
                _rich_table(block)
            else:
                print(plain_table(block))
        else:
            print(block)


def plain_table(table: Table) -> str:
    """Columns padded to their widest cell, a rule under the header, "(none)" when there are no rows."""
    header, rows = table.header, table.rows
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = [_GAP.join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("─" * (sum(widths) + len(_GAP) * (len(widths) - 1)))
    lines += [_GAP.join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def _rich_table(table: Table) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    drawn = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in table.header:
        drawn.add_column(name)
    for row in table.rows:
        drawn.add_row(*row)
    console = Console(markup=False, highlight=False, emoji=False)
    console.print(drawn)
    if not table.rows:
        console.print("(none)")


# ---- progress on stderr ----


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[Callable[[Procedure | None], None]]:
    """A progress bar on stderr for one procedure; yields `update(procedure)` (None: nothing known yet).
    Disabled, it yields a function that does nothing."""
    if not enabled:
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True, markup=False, highlight=False, emoji=False)
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(description, total=None, step="submitted")

        def update(info: Procedure | None) -> None:
            if info is None:
                return
            total = info.total or None
            step = info.step if not info.finished else info.state
            progress.update(task, completed=info.done, total=total, step=step)

        yield update
        task_state = progress.tasks[0]
        if task_state.total is None:  # nothing reported progress (a region procedure): show it done
            progress.update(task, total=1, completed=1, step="done")


# ---- JSON shapes of what the SDK returns ----


def procedure_json(p: Procedure) -> dict[str, Any]:
    return {
        "proc_id": p.proc_id,
        "kind": p.kind,
        "state": p.state,
        "table": p.table,
        "region_id": p.region_id,
        "step": p.step,
        "done": p.done,
        "total": p.total,
        "lock": p.lock,
        "age_s": p.age_s,
        "submitted_age_s": p.submitted_age_s,
        "abortable": p.abortable,
        "error_code": p.error_code or None,
        "error_message": p.error_message or None,
    }


def location_json(loc: RegionLocation) -> dict[str, Any]:
    return {
        "region_id": loc.region_id,
        "table": loc.info.table,
        "start_key": loc.info.start_key.hex(),
        "end_key": loc.info.end_key.hex(),
        "state": loc.state.name,
        "server": str(loc.server) if loc.server else None,
        "proc_id": loc.proc_id,
    }


def table_json(t: TableDescription) -> dict[str, Any]:
    return {
        "name": t.name,
        "state": t.state.name,
        "families": [
            {"name": f.name, "max_versions": f.max_versions, "min_versions": f.min_versions, "ttl": f.ttl}
            for f in t.families
        ],
        "settings": {
            "max_region_size": t.settings.max_region_size,
            "split_enabled": t.settings.split_enabled,
            "merge_enabled": t.settings.merge_enabled,
            "normalization_enabled": t.settings.normalization_enabled,
        },
        "regions": t.regions,
        "regions_by_state": t.regions_by_state,
        "locked_by": t.locked_by or None,
    }


# ---- cells ----


def by_state(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {n:,}" for state, n in sorted(counts.items())) or "none"


def ttl_text(ttl: int | None) -> str:
    return "forever" if ttl is None else f"{ttl:,} s"


def progress_text(p: Procedure) -> str:
    return f"{p.done:,}/{p.total:,}" if p.total else "-"


__all__ = [
    "RICH_ROWS",
    "Result",
    "Table",
    "by_state",
    "emit",
    "location_json",
    "plain_table",
    "procedure_json",
    "progress_bar",
    "progress_text",
    "table_json",
    "ttl_text",
]


def human_bytes(n: int) -> str:
    """A byte count as people read it: 512 B, 1.5 KiB, 3.2 MiB, 1.0 GiB."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
