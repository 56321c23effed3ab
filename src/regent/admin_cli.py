"""`regent admin ...`: the operator's commands, through the SDK's Admin against the active master.

    regent admin --master H:P[,H:P...] status
    regent admin --master H:P create-table NAME --family F [--family G] [--regions N | --split-key K ...]
    regent admin --master H:P regions TABLE
    regent admin --master H:P assign|unassign|move REGION [--server H:P]
    regent admin --master H:P procedures [--limit N]
    regent admin --master H:P bypass PROC_ID

Each prints a readable table, or one JSON object with --json. A refusal is one line on stderr
("regent: error: ...") and exit code 1, as for every other regent command.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

DEFAULT_MASTER = "127.0.0.1:16000"
RIT_LISTED = 1000  # ClusterStatus lists at most this many regions in transition


def add_arguments(parser: argparse.ArgumentParser, positive: Callable[[str], int]) -> None:
    """The options and subcommands of `regent admin`."""
    parser.add_argument(
        "--master", default=DEFAULT_MASTER, help=f"master address(es) H:P[,H:P...] (default {DEFAULT_MASTER})"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="deadline of the call, retries included (s)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="ADMIN_COMMAND")

    sub.add_parser("status", help="live RegionServers, regions by state, regions in transition")

    create = sub.add_parser("create-table", help="create a table and assign its regions")
    create.add_argument("name")
    create.add_argument("--family", action="append", required=True, help="a column family (repeatable)")
    split = create.add_mutually_exclusive_group()
    split.add_argument("--regions", type=positive, help="that many regions over the byte key space")
    split.add_argument(
        "--split-key", action="append", help="a split key, UTF-8 (repeatable, in increasing order)"
    )

    regions = sub.add_parser("regions", help="every region of a table with its state and server")
    regions.add_argument("table")

    for name, what in (
        ("assign", "open a CLOSED/OFFLINE region"),
        ("unassign", "close an OPEN region"),
        ("move", "move an OPEN region"),
    ):
        command = sub.add_parser(name, help=what)
        command.add_argument("region", type=positive, help="region id")
        if name != "unassign":
            command.add_argument("--server", help="H:P or H:P:startcode (default: the master chooses)")

    procedures = sub.add_parser("procedures", help="running procedures with their step and age")
    procedures.add_argument("--limit", type=positive, default=1000)

    bypass = sub.add_parser("bypass", help="force a stuck procedure to end (as HBCK2's bypass)")
    bypass.add_argument("proc_id", type=positive)


def run(args: argparse.Namespace) -> None:
    """Carry out one admin command; errors propagate (the CLI prints them as one line)."""
    import regent

    with regent.connect(args.master, timeout=args.timeout) as connection:
        admin = connection.admin()
        result = _COMMANDS[args.admin_command](admin, args)
    if args.json:
        print(json.dumps(result["json"], default=str))
    else:
        print(result["text"])


def _status(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    status = admin.cluster_status()
    rows = [
        (str(s.server), str(s.region_count), str(s.requests), f"{s.last_heartbeat_age_ms} ms")
        for s in status.servers
    ]
    by_state = ", ".join(f"{state} {count:,}" for state, count in sorted(status.regions_by_state.items()))
    rit = status.regions_in_transition  # the master lists at most a thousand
    lines = [
        f"master epoch {status.master_epoch}; {status.regions:,} regions: {by_state or 'none'}",
        f"regions in transition: {len(rit):,}{'+' if len(rit) >= RIT_LISTED else ''}",
        *(
            f"  region {loc.region_id} {loc.state.name} on {loc.server} (procedure {loc.proc_id})"
            for loc in rit[:10]
        ),
        "",
        _table(("RegionServer", "regions", "requests", "last heartbeat"), rows),
    ]
    text = "\n".join(lines)
    return {
        "text": text,
        "json": {
            "master_epoch": status.master_epoch,
            "regions": status.regions,
            "regions_by_state": status.regions_by_state,
            "regions_in_transition": [_location(loc) for loc in status.regions_in_transition],
            "servers": [
                {
                    "server": str(s.server),
                    "region_count": s.region_count,
                    "requests": s.requests,
                    "last_heartbeat_age_ms": s.last_heartbeat_age_ms,
                }
                for s in status.servers
            ],
            "startup_assignment_ms": status.startup_assignment_ms,
        },
    }


def _create_table(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    split_keys = [k.encode() for k in args.split_key] if args.split_key else None
    created = admin.create_table(args.name, args.family, split_keys=split_keys, num_regions=args.regions)
    return {"text": f"table {args.name!r} created with {created:,} regions", "json": {"regions": created}}


def _regions(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    locations = admin.table_regions(args.table)
    rows = [
        (
            str(loc.region_id),
            repr(loc.info.start_key),
            repr(loc.info.end_key),
            loc.state.name,
            str(loc.server) if loc.server else "-",
            str(loc.proc_id or "-"),
        )
        for loc in locations
    ]
    return {
        "text": _table(("region", "start key", "end key", "state", "server", "procedure"), rows),
        "json": {"regions": [_location(loc) for loc in locations]},
    }


def _region_procedure(method: str) -> Callable[[Any, argparse.Namespace], dict[str, Any]]:
    def command(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
        server = getattr(args, "server", None)
        call = getattr(admin, method)
        proc_id = call(args.region, server) if method != "unassign" else call(args.region)
        location = admin.get_region(args.region)
        where = f" on {location.server}" if location.server else ""
        return {
            "text": f"procedure {proc_id} done: region {args.region} is {location.state.name}{where}",
            "json": {"proc_id": proc_id, "region": _location(location)},
        }

    return command


def _procedures(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    procedures = admin.list_procedures(limit=args.limit)
    rows = [(str(p.proc_id), p.kind, str(p.region_id or "-"), p.step, f"{p.age_s:.1f} s") for p in procedures]
    return {
        "text": _table(("procedure", "kind", "region", "step", "age"), rows),
        "json": {
            "procedures": [
                {
                    "proc_id": p.proc_id,
                    "kind": p.kind,
                    "region_id": p.region_id,
                    "step": p.step,
                    "age_s": p.age_s,
                }
                for p in procedures
            ]
        },
    }


def _bypass(admin: Any, args: argparse.Namespace) -> dict[str, Any]:
    admin.bypass(args.proc_id)
    return {"text": f"procedure {args.proc_id} bypassed", "json": {"bypassed": args.proc_id}}


_COMMANDS: dict[str, Callable[[Any, argparse.Namespace], dict[str, Any]]] = {
    "status": _status,
    "create-table": _create_table,
    "regions": _regions,
    "assign": _region_procedure("assign"),
    "unassign": _region_procedure("unassign"),
    "move": _region_procedure("move"),
    "procedures": _procedures,
    "bypass": _bypass,
}


def _location(loc: Any) -> dict[str, Any]:
    return {
        "region_id": loc.region_id,
        "table": loc.info.table,
        "start_key": loc.info.start_key.hex(),
        "end_key": loc.info.end_key.hex(),
        "state": loc.state.name,
        "server": str(loc.server) if loc.server else None,
        "proc_id": loc.proc_id,
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; "(none)" under the header when there are no rows."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


__all__ = ["add_arguments", "run"]
