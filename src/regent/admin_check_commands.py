"""The consistency commands of `regent admin`: hbck (with --fix, saying what it will do first and asking
before it removes directories) and the catalog janitor's run, switch and status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from regent import admin_cli as cli
from regent.admin_output import Result, Table, no_arguments

if TYPE_CHECKING:
    from client.admin import Admin
    from client.consistency import CheckReport, Finding, SplitParent

Positive = Callable[[str], int]
SHOWN = 200  # findings listed in the text output (all of them with --json)


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "detail": f.detail,
        "table": f.table,
        "region_id": f.region_id,
        "server": f.server,
        "path": f.path,
        "fix": f.fix,
        "fixed": f.fixed,
        "fix_error": f.fix_error,
    }


def report_json(r: CheckReport) -> dict[str, Any]:
    return {
        "started_ms": r.started_ms,
        "ms": r.ms,
        "regions": r.regions,
        "servers": r.servers,
        "unreachable": list(r.unreachable),
        "fix": r.fix,
        "findings": [finding_json(f) for f in r.findings],
        "removed_parents": [parent_json(p) for p in r.removed_parents],
        "kept_parents": [parent_json(p) for p in r.kept_parents],
        "parents_kept": r.parents_kept,
        "parents_error": r.parents_error,
    }


def parent_json(p: SplitParent) -> dict[str, Any]:
    return {
        "region_id": p.region_id,
        "table": p.table,
        "kind": p.kind,
        "children": list(p.children),
        "reason": p.reason,
    }


def parents_text(r: CheckReport) -> list[str | Table]:
    """The janitor's removal of split and merged parents (nothing for hbck, which removes none)."""
    blocks: list[str | Table] = []
    if r.removed_parents:
        shown = ", ".join(f"{p.region_id} ({p.kind}, {p.table})" for p in r.removed_parents[:20])
        more = f" and {len(r.removed_parents) - 20} more" if len(r.removed_parents) > 20 else ""
        blocks.append(f"  removed {len(r.removed_parents)} parents: {shown}{more}")
    if r.parents_kept:
        blocks.append(f"  kept {r.parents_kept} parents:")
        rows = [(str(p.region_id), p.kind, p.table, p.reason) for p in r.kept_parents]
        blocks.append(Table(("parent", "kind", "table", "kept because"), rows))
    if r.parents_error:
        blocks.append(f"  parents: {r.parents_error}")
    return blocks


def report_text(r: CheckReport, *, what: str, fixing: bool = False) -> list[str | Table]:
    when = datetime.fromtimestamp(r.started_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    servers = f", {r.servers} RegionServers" if r.servers else ""
    head = f"{what} at {when}: {r.regions:,} regions{servers} in {r.ms} ms: "
    blocks: list[str | Table] = [
        head + (f"{len(r.findings)} inconsistencies" if r.findings else "consistent")
    ]
    if r.unreachable:
        blocks.append(f"  not compared (did not answer): {', '.join(r.unreachable)}")
    if r.findings:
        column = "done" if fixing else "--fix would"
        rows = [
            (f.kind, f.table, str(f.region_id or ""), f.detail, _outcome(f, fixing))
            for f in r.findings[:SHOWN]
        ]
        blocks.append(Table(("kind", "table", "region", "detail", column), rows))
        if len(r.findings) > SHOWN:
            blocks.append(f"  ... and {len(r.findings) - SHOWN} more (--json lists every one)")
    return blocks + parents_text(r)


def _outcome(f: Finding, fixing: bool) -> str:
    if not fixing:
        return f.fix or "(report only)"
    if f.fixed:
        return f.fix
    return f.fix_error or "(report only)"


def _left(r: CheckReport) -> int:
    return cli.EXIT_INCONSISTENT if any(not f.fixed for f in r.findings) else cli.EXIT_OK


def _hbck_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument(
        "--fix",
        action="store_true",
        help="repair what can be repaired safely (reassign regions served nowhere, close regions served "
        "where meta does not place them, open split/merge children left unopened, assign regions left "
        "closed in enabled tables; orphan directories once confirmed)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="with --fix: remove orphan directories without asking"
    )


def _hbck(admin: Admin, args: argparse.Namespace) -> Result:
    report = admin.hbck()
    if not args.fix or not report.findings:
        return Result(
            report_json(report), report_text(report, what="hbck"), _left(report) if report.findings else 0
        )
    # Say what --fix will do before doing it (on stderr: stdout is the result), then ask about directories.
    for line in report_text(report, what="hbck"):
        _err(line if isinstance(line, str) else _plain(line))
    dirs = report.of("orphan_dir")
    remove = bool(dirs) and (args.yes or _confirm(f"remove {len(dirs)} orphan directories? [y/N] "))
    if dirs and not remove:
        _err("orphan directories kept (answer y, or give --yes, to remove them)")
    fixed = admin.hbck(fix=True, remove_orphan_dirs=remove)
    return Result(report_json(fixed), report_text(fixed, what="hbck --fix", fixing=True), _left(fixed))


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(question, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _plain(table: Table) -> str:
    from regent.admin_output import plain_table

    return plain_table(table)


def _janitor_run(admin: Admin, args: argparse.Namespace) -> Result:
    report = admin.catalog_janitor_run()
    return Result(report_json(report), report_text(report, what="catalog janitor"), _left(report))


def _switch_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("state", choices=["on", "off"], help="on: periodic runs; off: none")


def _janitor_switch(admin: Admin, args: argparse.Namespace) -> Result:
    on = args.state == "on"
    previous = admin.catalog_janitor_switch(on)
    text = f"catalog janitor switched {args.state} (it was {'on' if previous else 'off'})"
    return Result({"on": on, "previous": previous}, [text])


def _janitor_status(admin: Admin, args: argparse.Namespace) -> Result:
    s = admin.catalog_janitor_status()
    blocks: list[str | Table] = [f"catalog janitor {'on' if s.on else 'off'}, every {s.period_s:g} s"]
    blocks += report_text(s.last_report, what="last run") if s.last_report else ["no run yet on this master"]
    data = {
        "on": s.on,
        "period_s": s.period_s,
        "last_report": report_json(s.last_report) if s.last_report else None,
    }
    return Result(data, blocks)


def commands() -> tuple[Any, ...]:
    from regent.admin_commands import Command

    return (
        Command(
            "hbck",
            "check meta, the master, every RegionServer and the region directories agree (--fix repairs)",
            "regent admin hbck\nregent admin hbck --fix",
            _hbck_arguments,
            _hbck,
        ),
        Command(
            "catalog-janitor-run",
            "remove unreferenced split/merge parents; report holes, overlaps, unknown servers, stuck regions",
            "regent admin catalog-janitor-run",
            no_arguments,
            _janitor_run,
        ),
        Command(
            "catalog-janitor-switch",
            "switch the catalog janitor's periodic runs on or off (kept across failovers)",
            "regent admin catalog-janitor-switch off",
            _switch_arguments,
            _janitor_switch,
        ),
        Command(
            "catalog-janitor-status",
            "the catalog janitor's switch, period and last report",
            "regent admin catalog-janitor-status",
            no_arguments,
            _janitor_status,
        ),
    )
