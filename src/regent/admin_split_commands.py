"""The split and merge commands of `regent admin` (HBase shell's split, merge_region, splitormerge_switch,
splitormerge_enabled)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from regent.admin_output import Result, no_arguments, progress_bar

if TYPE_CHECKING:
    from client.admin import Admin

Positive = Callable[[str], int]


def _split_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument(
        "target",
        metavar="REGION|TABLE",
        help="a region id (digits), or a table name: every region of it (with --key: the region holding K)",
    )
    parser.add_argument(
        "--key", metavar="K", help="split at this row, UTF-8 (default: each region's middle row by size)"
    )


def _split(admin: Admin, args: argparse.Namespace) -> Result:
    target: int | str = int(args.target) if args.target.isdigit() else args.target
    key = args.key.encode() if args.key is not None else None
    wait = not args.no_wait
    what = f"region {target}" if isinstance(target, int) else f"table {target}"
    with progress_bar(f"split {what}", args.progress and wait):
        proc_ids = admin.split(target, key, wait=wait, timeout=args.wait_timeout if wait else args.timeout)
    done = "done" if wait else "submitted"
    text = f"{len(proc_ids)} split procedure{'s' if len(proc_ids) != 1 else ''} {done}: " + ", ".join(
        str(p) for p in proc_ids
    )
    return Result({"proc_ids": proc_ids, "waited": wait}, [text])


def _merge_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("regions", nargs="+", type=positive, metavar="REGION", help="two or more region ids")
    parser.add_argument(
        "--force", action="store_true", help="merge across a hole between the regions (never across a region)"
    )


def _merge(admin: Admin, args: argparse.Namespace) -> Result:
    if len(args.regions) < 2:
        raise ValueError("merge needs two or more regions: regent admin merge R1 R2 ...")
    wait = not args.no_wait
    with progress_bar(f"merge regions {' '.join(map(str, args.regions))}", args.progress and wait):
        proc_id = admin.merge(
            args.regions, force=args.force, wait=wait, timeout=args.wait_timeout if wait else args.timeout
        )
    text = f"merge procedure {proc_id} {'done' if wait else 'submitted'}"
    return Result({"proc_id": proc_id, "waited": wait}, [text])


def _switch_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("state", choices=["on", "off"], help="on: allowed; off: every new one is refused")


def _switch(kind: str) -> Callable[[Admin, argparse.Namespace], Result]:
    def command(admin: Admin, args: argparse.Namespace) -> Result:
        on = args.state == "on"
        previous = admin.split_switch(on) if kind == "split" else admin.merge_switch(on)
        text = f"{kind}s switched {args.state} (they were {'on' if previous else 'off'})"
        return Result({"on": on, "previous": previous}, [text])

    return command


def _status(admin: Admin, args: argparse.Namespace) -> Result:
    s = admin.split_merge_status()
    data = {
        "split_on": s.split_on,
        "merge_on": s.merge_on,
        "splits_running": s.splits_running,
        "merges_running": s.merges_running,
    }
    text = (
        f"splits {'on' if s.split_on else 'off'} ({s.splits_running} running), "
        f"merges {'on' if s.merge_on else 'off'} ({s.merges_running} running)"
    )
    return Result(data, [text])


def commands() -> tuple[Any, ...]:
    from regent.admin_commands import Command

    return (
        Command(
            "split",
            "split a region, or every region of a table, at its middle row (or --key)",
            "regent admin split 7\nregent admin split t1\nregent admin split t1 --key row-5000",
            _split_arguments,
            _split,
            waits=True,
        ),
        Command(
            "merge",
            "merge two or more adjacent regions of one table into one",
            "regent admin merge 7 8\nregent admin merge 7 9 --force",
            _merge_arguments,
            _merge,
            waits=True,
        ),
        Command(
            "split-switch",
            "switch splits on or off, cluster-wide (kept across failovers)",
            "regent admin split-switch off",
            _switch_arguments,
            _switch("split"),
        ),
        Command(
            "merge-switch",
            "switch merges on or off, cluster-wide (kept across failovers)",
            "regent admin merge-switch off",
            _switch_arguments,
            _switch("merge"),
        ),
        Command(
            "split-merge-status",
            "the split and merge switches and the splits and merges running",
            "regent admin split-merge-status",
            no_arguments,
            _status,
        ),
    )
