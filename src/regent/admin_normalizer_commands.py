"""The normalizer commands of `regent admin` (HBase shell's normalize, normalizer_switch,
normalizer_enabled): run it now (or plan only), switch its periodic runs, show its last run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from regent.admin_output import Result, Table, no_arguments

if TYPE_CHECKING:
    from client.admin import Admin
    from client.normalizer import NormalizerRun

Positive = Callable[[str], int]
PLANS_SHOWN = 50  # plans listed in the text output (all of them with --json)
IDS_SHOWN = 6  # region ids of one merge shown in the text output


def run_json(run: NormalizerRun) -> dict[str, Any]:
    return {
        "ran": run.ran,
        "reason": run.reason,
        "dry_run": run.dry_run,
        "trigger": run.trigger,
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "tables": run.tables,
        "regions": run.regions,
        "plans": [
            {
                "kind": p.kind,
                "table": p.table,
                "region_ids": list(p.region_ids),
                "bytes": p.bytes,
                "reason": p.reason,
                "proc_id": p.proc_id,
                "error": p.error,
            }
            for p in run.plans
        ],
    }


def run_text(run: NormalizerRun) -> list[str | Table]:
    when = datetime.fromtimestamp(run.started_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    kind = "dry run" if run.dry_run else ("periodic run" if run.trigger else "run")
    if not run.ran:
        return [f"{kind} at {when}: nothing done: {run.reason}"]
    blocks: list[str | Table] = [f"{kind} at {when}: {run.reason}"]
    if run.plans:
        rows = [
            (
                p.kind,
                p.table,
                _ids(p.region_ids),
                f"{p.bytes:,}",
                str(p.proc_id) if p.proc_id else ("-" if run.dry_run else "not submitted"),
                p.error or p.reason,
            )
            for p in run.plans[:PLANS_SHOWN]
        ]
        blocks.append(Table(("plan", "table", "regions", "bytes", "procedure", "why"), rows))
        if len(run.plans) > PLANS_SHOWN:
            blocks.append(f"  ... and {len(run.plans) - PLANS_SHOWN} more (--json lists every one)")
    return blocks


def _ids(ids: tuple[int, ...]) -> str:
    shown = " ".join(str(i) for i in ids[:IDS_SHOWN])
    return shown + (f" (+{len(ids) - IDS_SHOWN})" if len(ids) > IDS_SHOWN else "")


def _normalize_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("--dry-run", action="store_true", help="plan and show the plans, submit nothing")
    parser.add_argument(
        "--table",
        dest="tables",
        action="append",
        default=[],
        metavar="T",
        help="only this table (repeat the option for more); it must have normalization_enabled",
    )


def _normalize(admin: Admin, args: argparse.Namespace) -> Result:
    run = admin.normalize(dry_run=args.dry_run, tables=args.tables)
    return Result(run_json(run), run_text(run))


def _switch_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("state", choices=["on", "off"], help="on: periodic runs; off: none")


def _switch(admin: Admin, args: argparse.Namespace) -> Result:
    on = args.state == "on"
    previous = admin.normalizer_switch(on)
    text = f"normalizer switched {args.state} (it was {'on' if previous else 'off'})"
    return Result({"on": on, "previous": previous}, [text])


def _status(admin: Admin, args: argparse.Namespace) -> Result:
    s = admin.normalizer_status()
    data = {
        "on": s.on,
        "period_s": s.period_s,
        "last_run": run_json(s.last_run) if s.last_run else None,
    }
    blocks: list[str | Table] = [
        f"normalizer {'on' if s.on else 'off'}, every {s.period_s:g} s",
        *(run_text(s.last_run) if s.last_run else ["no run yet on this master"]),
    ]
    return Result(data, blocks)


def commands() -> tuple[Any, ...]:
    from regent.admin_commands import Command

    return (
        Command(
            "normalize",
            "split large and merge small regions of the tables that opted in (--dry-run: plans only)",
            "regent admin normalize --dry-run\nregent admin normalize --table users --table events",
            _normalize_arguments,
            _normalize,
        ),
        Command(
            "normalizer-switch",
            "switch the normalizer's periodic runs on or off (kept across failovers)",
            "regent admin normalizer-switch off",
            _switch_arguments,
            _switch,
        ),
        Command(
            "normalizer-status",
            "the normalizer's switch, period and last run",
            "regent admin normalizer-status\nregent admin --json normalizer-status | jq .last_run.plans",
            no_arguments,
            _status,
        ),
    )
