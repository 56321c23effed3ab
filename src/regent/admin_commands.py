"""The commands of `regent admin`: for each, its arguments, an example, and what it does with the Admin.
The table commands are in admin_table_commands; the region, procedure and cluster ones are here.

A command returns a Result (admin_output): its JSON document and its text. One that submits a procedure
waits for it with a progress bar unless --no-wait; the waiting is the SDK's (ProcedureHandle.wait), so a
failed procedure raises the named error the SDK raises and admin_cli turns into an exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from regent import (
    admin_balance_commands,
    admin_check_commands,
    admin_normalizer_commands,
    admin_split_commands,
)
from regent import admin_cli as cli
from regent.admin_output import (
    Result,
    Table,
    location_json,
    no_arguments,
    procedure_json,
    progress_bar,
    progress_text,
)
from regent.admin_status_commands import status, status_arguments, story, story_arguments
from regent.admin_table_commands import (
    create_table,
    create_table_arguments,
    describe_table,
    family_arguments,
    family_procedure,
    list_tables,
    modify_table,
    modify_table_arguments,
    simple_table_procedure,
    table_name,
    table_regions,
    truncate_arguments,
    truncate_table,
)

if TYPE_CHECKING:
    from client.admin import Admin

RIT_LISTED = 1000  # ClusterStatus lists at most this many regions in transition

Positive = Callable[[str], int]


class Refused(Exception):
    """The cluster answered, but not what the command asked for (an abort past the point of no return)."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    example: str
    arguments: Callable[[argparse.ArgumentParser, Positive], None]
    run: Callable[[Admin, argparse.Namespace], Result]
    waits: bool = False


# ---- regions ----


def _region_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument(
        "region", type=positive, metavar="REGION", help="region id (see `regent admin regions`)"
    )
    if not parser.prog.endswith("unassign"):
        parser.add_argument("--server", help="H:P or H:P:startcode (default: the master chooses)")


def _region_procedure(method: str) -> Callable[[Admin, argparse.Namespace], Result]:
    def command(admin: Admin, args: argparse.Namespace) -> Result:
        call = getattr(admin, method)
        target = () if method == "unassign" else (args.server,)
        wait = not args.no_wait
        with progress_bar(f"{method} region {args.region}", args.progress and wait):
            proc_id = call(
                args.region, *target, wait=wait, timeout=args.wait_timeout if wait else args.timeout
            )
        location = admin.get_region(args.region)
        where = f" on {location.server}" if location.server else ""
        text = (
            f"procedure {proc_id} done: region {args.region} is {location.state.name}{where}"
            if wait
            else f"procedure {proc_id} submitted: region {args.region} is {location.state.name}{where}"
        )
        return Result({"proc_id": proc_id, "waited": wait, "region": location_json(location)}, [text])

    return command


# ---- procedures and the cluster ----


def _procedures_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument(
        "proc_id", type=positive, nargs="?", metavar="PROC_ID", help="show (or --wait for) this one"
    )
    parser.add_argument(
        "--limit", type=positive, default=1000, help="region procedures listed at most (default 1000)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="with PROC_ID: wait until it ends, with a progress bar"
    )
    parser.add_argument(
        "--wait-timeout", type=cli.seconds, default=600.0, metavar="S", help="with --wait (default 600)"
    )


def _procedures(admin: Admin, args: argparse.Namespace) -> Result:
    if args.proc_id is None:
        if args.wait:
            raise ValueError("--wait needs a PROC_ID")
        procedures = admin.list_procedures(limit=args.limit)
        rows = [
            (
                str(p.proc_id),
                p.kind,
                p.table or (f"region {p.region_id}" if p.region_id else "-"),
                p.state,
                progress_text(p),
                p.step,
                f"{p.age_s:.1f} s",
            )
            for p in procedures
        ]
        header = ("procedure", "kind", "of", "state", "progress", "step", "age")
        return Result({"procedures": [procedure_json(p) for p in procedures]}, [Table(header, rows)])
    if args.wait:
        handle = admin.procedure(args.proc_id)
        with progress_bar(f"procedure {args.proc_id}", args.progress) as update:
            final = handle.wait(args.wait_timeout, on_progress=update)
        return Result(
            procedure_json(final), [f"procedure {final.proc_id} ({final.kind}) ended {final.state}"]
        )
    p = admin.get_procedure(args.proc_id)
    lines: list[str | Table] = [
        f"procedure {p.proc_id} ({p.kind}{f' of table {p.table}' if p.table else ''}): {p.state}",
        f"step: {p.step or '-'}; progress {progress_text(p)}; {p.lock or 'no lock'}",
        f"submitted {p.submitted_age_s:.1f} s ago, last step {p.age_s:.1f} s ago; "
        + ("abortable" if p.abortable else "not abortable"),
    ]
    if p.error_code or p.error_message:
        lines.append(f"error: {p.error_code}: {p.error_message}")
    return Result(procedure_json(p), lines)


def _proc_id_argument(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("proc_id", type=positive, metavar="PROC_ID")


def _abort(admin: Admin, args: argparse.Namespace) -> Result:
    from client.errors import RegentError

    result = admin.abort_procedure(args.proc_id)
    if not result.rolled_back:
        raise Refused(f"procedure {args.proc_id} was not aborted: {result.message}")
    data: dict[str, Any] = {"proc_id": args.proc_id, "rolled_back": True, "message": result.message}
    if args.no_wait:
        return Result(
            {**data, "waited": False}, [f"procedure {args.proc_id} is rolling back: {result.message}"]
        )
    handle = admin.procedure(args.proc_id)
    try:
        with progress_bar(f"roll back procedure {args.proc_id}", args.progress) as update:
            handle.wait(args.wait_timeout, on_progress=update)
    except RegentError as exc:
        if exc.proc_id != args.proc_id:
            raise
    final = handle.info()
    if final.state != "ROLLED_BACK":
        raise Refused(f"procedure {args.proc_id} ended {final.state}, not rolled back")
    return Result({**data, "waited": True, "state": final.state}, [f"procedure {args.proc_id} rolled back"])


def _bypass(admin: Admin, args: argparse.Namespace) -> Result:
    admin.bypass(args.proc_id)
    return Result({"bypassed": args.proc_id}, [f"procedure {args.proc_id} bypassed"])


# ---- the data path ----


def _compact_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("table", nargs="?", metavar="TABLE", help="compact every region of this table")
    parser.add_argument("--region", type=positive, metavar="REGION", help="compact this region only")


def _compact(admin: Admin, args: argparse.Namespace) -> Result:
    if (args.table is None) == (args.region is None):
        raise ValueError("give a TABLE or --region REGION (one of them)")
    target = args.table if args.table is not None else args.region
    done = admin.compact(target, timeout=args.timeout)
    rows = [
        (
            str(c.region_id),
            c.server,
            f"{c.cells_before} -> {c.cells_after}",
            f"{c.bytes_before} -> {c.bytes_after}",
        )
        for c in done
    ]
    what = f"table {args.table}" if args.table is not None else f"region {args.region}"
    return Result(
        {
            "target": target,
            "regions": [
                {
                    "region_id": c.region_id,
                    "server": c.server,
                    "cells_before": c.cells_before,
                    "cells_after": c.cells_after,
                    "bytes_before": c.bytes_before,
                    "bytes_after": c.bytes_after,
                }
                for c in done
            ],
        },
        [f"compacted {what}: {len(done)} region(s)", Table(("region", "server", "cells", "bytes"), rows)],
    )


COMMANDS: tuple[Command, ...] = (
    Command(
        "create-table",
        "create a table and wait until every region is assigned",
        "regent admin create-table users --family info:versions=3 --family raw:ttl=7d --regions 16",
        create_table_arguments,
        create_table,
        waits=True,
    ),
    Command(
        "delete-table",
        "delete a disabled table, its regions and their data",
        "regent admin disable-table users && regent admin delete-table users",
        table_name,
        simple_table_procedure("delete_table", "deleted"),
        waits=True,
    ),
    Command(
        "truncate-table",
        "drop every row of a disabled table (same region boundaries unless --no-preserve-splits)",
        "regent admin disable-table users && regent admin truncate-table users",
        truncate_arguments,
        truncate_table,
        waits=True,
    ),
    Command(
        "enable-table",
        "enable a disabled table: assign its regions",
        "regent admin enable-table users",
        table_name,
        simple_table_procedure("enable_table", "enabled"),
        waits=True,
    ),
    Command(
        "disable-table",
        "disable a table: close its regions",
        "regent admin disable-table users --wait-timeout 1800",
        table_name,
        simple_table_procedure("disable_table", "disabled"),
        waits=True,
    ),
    Command(
        "modify-table",
        "change a table's settings (or replace its families), then reopen its regions",
        "regent admin modify-table users --max-region-size 10GiB --no-split",
        modify_table_arguments,
        modify_table,
        waits=True,
    ),
    Command(
        "add-family",
        "add a column family to a table",
        "regent admin add-family users events --max-versions 5 --ttl 30d",
        family_arguments,
        family_procedure("add_family", "added"),
        waits=True,
    ),
    Command(
        "modify-family",
        "change a column family's settings (the ones not given are kept)",
        "regent admin modify-family users events --max-versions 10",
        family_arguments,
        family_procedure("modify_family", "modified"),
        waits=True,
    ),
    Command(
        "delete-family",
        "remove a column family and its data from a table",
        "regent admin delete-family users events",
        family_arguments,
        family_procedure("delete_family", "deleted"),
        waits=True,
    ),
    Command(
        "describe",
        "a table's state, regions by state, settings and families",
        "regent admin describe users\nregent admin --json describe users | jq .families",
        table_name,
        describe_table,
    ),
    Command("list", "every table with its state and regions", "regent admin list", no_arguments, list_tables),
    Command(
        "regions",
        "every region of a table with its keys, state and server",
        "regent admin regions users\n"
        "regent admin --json regions users | jq '.regions[] | select(.state != \"OPEN\")'",
        table_name,
        table_regions,
    ),
    Command(
        "procedures",
        "running procedures (and finished table procedures, for 10 minutes), or one of them",
        "regent admin procedures\nregent admin procedures 1234 --wait",
        _procedures_arguments,
        _procedures,
    ),
    Command(
        "abort",
        "roll back a table procedure that has not passed its point of no return",
        "regent admin abort 1234",
        _proc_id_argument,
        _abort,
        waits=True,
    ),
    Command(
        "bypass",
        "force a stuck procedure to end (as HBCK2's bypass)",
        "regent admin bypass 1234",
        _proc_id_argument,
        _bypass,
    ),
    Command(
        "move",
        "move an OPEN region to another server",
        "regent admin move 7 --server 127.0.0.1:16101",
        _region_arguments,
        _region_procedure("move"),
        waits=True,
    ),
    Command(
        "assign",
        "open a CLOSED, OFFLINE or ABNORMALLY_CLOSED region",
        "regent admin assign 7",
        _region_arguments,
        _region_procedure("assign"),
        waits=True,
    ),
    Command(
        "unassign",
        "close an OPEN region, leaving it on no server",
        "regent admin unassign 7",
        _region_arguments,
        _region_procedure("unassign"),
        waits=True,
    ),
    Command(
        "compact",
        "rewrite a table's (or one region's) stores without expired and deleted cells, while they serve",
        "regent admin compact users\nregent admin compact --region 7",
        _compact_arguments,
        _compact,
    ),
    Command(
        "status",
        "a one-screen summary: RegionServers, regions by state, regions in transition, procedures running",
        "regent admin status\nregent admin status --watch\nregent admin --json status | jq .regions_by_state",
        status_arguments,
        status,
    ),
    Command(
        "story",
        "a region's recent transitions, each with its time, server, procedure and cause",
        "regent admin story 7\nregent admin --json story 7 | jq '.steps[].cause'",
        story_arguments,
        story,
    ),
    *admin_balance_commands.commands(),
    *admin_check_commands.commands(),
    *admin_split_commands.commands(),
    *admin_normalizer_commands.commands(),
)

BY_NAME = {command.name: command for command in COMMANDS}

__all__ = ["BY_NAME", "COMMANDS", "Command", "Refused"]
