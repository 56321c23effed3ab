"""`regent admin status` (a one-screen summary of the cluster, `--watch` to keep it refreshed in place) and
`regent admin story REGION` (a region's recent transitions with their causes)."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from regent.admin_output import Result, Table, by_state, human_bytes, location_json, plain_table

if TYPE_CHECKING:
    from client.admin import Admin

RIT_LISTED = 1000  # ClusterStatus lists at most this many regions in transition
RIT_SHOWN = 10  # on the summary screen

Positive = Callable[[str], int]


def status_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument(
        "--watch",
        action="store_true",
        help="refresh the summary in place until Ctrl-C (not with --json)",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between refreshes (default 2)"
    )


def status(admin: Admin, args: argparse.Namespace) -> Result:
    if getattr(args, "watch", False):
        if args.json:
            raise ValueError("--watch refreshes a screen for people: use it without --json")
        if not 0.1 <= args.interval <= 3600:
            raise ValueError(f"--interval must be between 0.1 and 3600 seconds, got {args.interval}")
        watch(admin, args.interval)
        return Result({}, [])
    return summary(admin)


def summary(admin: Admin) -> Result:
    """Servers, regions by state, regions in transition, procedures running: one screen."""
    status = admin.cluster_status()
    procedures = [p for p in admin.list_procedures(limit=RIT_LISTED) if p.region_id is None]
    running = [p for p in procedures if not p.finished]
    rit = status.regions_in_transition  # the master lists at most a thousand
    since = datetime.datetime.fromtimestamp(status.active_since_ms / 1000, datetime.UTC)
    servers = Table(
        ("RegionServer", "regions", "requests", "req/s", "store", "last heartbeat"),
        [
            (
                str(s.server) + (" (decommissioned)" if s.decommissioned else ""),
                f"{s.region_count:,}",
                f"{s.requests:,}",
                f"{s.requests_per_s:.1f}",
                human_bytes(s.store_bytes),
                f"{s.last_heartbeat_age_ms} ms ago",
            )
            for s in status.servers
        ],
    )
    startup = (
        f"startup assignment took {status.startup_assignment_ms:,} ms"
        if status.startup_assignment_ms
        else "startup assignment under way"
    )
    kinds = Counter(p.kind for p in running)
    blocks: list[str | Table] = [
        f"master epoch {status.master_epoch}, active since {since:%Y-%m-%d %H:%M:%S} UTC; {startup}",
        f"{len(status.servers)} RegionServers live; "
        f"{status.regions:,} regions: {by_state(status.regions_by_state)}",
        "",
        servers,
        "",
        f"regions in transition: {len(rit):,}{'+' if len(rit) >= RIT_LISTED else ''}",
        *(
            f"  region {loc.region_id} ({loc.info.table}) {loc.state.name} on {loc.server or 'no server'} "
            f"(procedure {loc.proc_id})"
            for loc in rit[:RIT_SHOWN]
        ),
        *([f"  ... and {len(rit) - RIT_SHOWN:,} more"] if len(rit) > RIT_SHOWN else []),
        f"procedures running: {len(running)}"
        + (" (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")" if kinds else ""),
        *(
            f"  {p.proc_id} {p.kind} {p.table or ''} {p.step} "
            + (f"{p.done:,}/{p.total:,}" if p.total else "")
            for p in running[:RIT_SHOWN]
        ),
    ]
    data = {
        "master_epoch": status.master_epoch,
        "active_since_ms": status.active_since_ms,
        "regions": status.regions,
        "regions_by_state": status.regions_by_state,
        "regions_in_transition": [location_json(loc) for loc in rit],
        "servers": [
            {
                "server": str(s.server),
                "region_count": s.region_count,
                "requests": s.requests,
                "requests_per_s": s.requests_per_s,
                "store_bytes": s.store_bytes,
                "decommissioned": s.decommissioned,
                "last_heartbeat_age_ms": s.last_heartbeat_age_ms,
            }
            for s in status.servers
        ],
        "procedures_running": [
            {
                "proc_id": p.proc_id,
                "kind": p.kind,
                "table": p.table,
                "step": p.step,
                "done": p.done,
                "total": p.total,
            }
            for p in running
        ],
        "startup_assignment_ms": status.startup_assignment_ms,
    }
    return Result(data, blocks)


def watch(admin: Admin, interval: float) -> None:
    """Redraw the summary every `interval` seconds in place (rich Live) until Ctrl-C; on a pipe, print
    one summary after the other."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from client.errors import RegentError

    console = Console()

    def screen() -> Text:
        try:
            result = summary(admin)
        except RegentError as exc:  # a failover under way: say so and keep watching
            return Text(f"{time.strftime('%H:%M:%S')}  cannot get the status now: {exc}")
        lines = [f"{time.strftime('%H:%M:%S')}  refreshed every {interval:g} s; Ctrl-C to stop", ""]
        for block in result.blocks:
            lines.append(plain_table(block) if isinstance(block, Table) else block)
        return Text("\n".join(lines))

    try:
        if not console.is_terminal:  # a pipe or a file: one summary after the other, as `watch` would not
            while True:
                print(screen().plain, end="\n\n", flush=True)
                time.sleep(interval)
        with Live(screen(), console=console, auto_refresh=False, screen=True) as live:
            while True:
                time.sleep(interval)
                live.update(screen(), refresh=True)
    except KeyboardInterrupt:
        print(file=sys.stderr)


def story_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("region_id", type=positive, metavar="REGION", help="the region's id")
    parser.add_argument(
        "--limit", type=positive, default=100, help="at most this many steps, the most recent (default 100)"
    )


def story(admin: Admin, args: argparse.Namespace) -> Result:
    found = admin.region_story(args.region_id, limit=args.limit)
    loc = found.location
    rows = [
        (
            _when(s.time_ms),
            s.state.name,
            s.server or "-",
            f"{s.procedure} {s.proc_id}".strip() if s.proc_id else s.procedure or "-",
            s.cause,
        )
        for s in found.steps
    ]
    where = f"{loc.state.name} on {loc.server}" if loc.server else f"{loc.state.name}, on no server"
    blocks: list[str | Table] = [
        f"region {loc.region_id} of table {loc.info.table}: {where}",
        "",
        Table(("time", "state", "server", "procedure", "cause"), rows),
    ]
    if not rows:
        blocks.append(
            "(no transition kept: the master keeps the most recent ones, and those of big batches "
            "only in memory)"
        )
    data: dict[str, Any] = {
        "region": location_json(loc),
        "steps": [
            {
                "time_ms": s.time_ms,
                "state": s.state.name,
                "server": s.server or None,
                "proc_id": s.proc_id,
                "procedure": s.procedure,
                "cause": s.cause,
                "persisted": s.persisted,
            }
            for s in found.steps
        ],
    }
    return Result(data, blocks)


def _when(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
