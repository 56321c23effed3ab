"""`regent admin` commands about tables: create, delete, truncate, enable, disable, modify, families,
and reading tables back (describe, list, regions). Each waits for its procedure unless --no-wait."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from regent import admin_cli as cli
from regent.admin_output import (
    Result,
    Table,
    by_state,
    location_json,
    procedure_json,
    progress_bar,
    table_json,
    ttl_text,
)

if TYPE_CHECKING:
    from client.admin import Admin
    from client.procedure import ProcedureHandle

Positive = Callable[[str], int]


# ---- waiting for a table procedure ----


def _follow(handle: ProcedureHandle, args: argparse.Namespace, what: str, done: str) -> Result:
    """--no-wait: the submitted procedure; else wait for it with a progress bar and say `done`."""
    submitted = {"proc_id": handle.proc_id, "kind": handle.kind, "table": handle.table}
    if handle.regions is not None:
        submitted["regions"] = handle.regions
    if args.no_wait or not handle.proc_id:
        return Result(
            {**submitted, "waited": False},
            [
                f"{what}: procedure {handle.proc_id} submitted; follow it with "
                f"`regent admin procedures {handle.proc_id} --wait`"
            ],
        )
    try:
        with progress_bar(f"{what} (procedure {handle.proc_id})", args.progress) as update:
            final = handle.wait(args.wait_timeout, on_progress=update)
    except KeyboardInterrupt:
        print(
            f"regent: interrupted: procedure {handle.proc_id} goes on in the master; follow it with "
            f"`regent admin procedures {handle.proc_id} --wait`",
            file=sys.stderr,
        )
        raise
    data = {**submitted, **procedure_json(final), "waited": True}
    if handle.regions is not None:
        data["regions"] = handle.regions
    return Result(data, [f"{done} (procedure {final.proc_id}, {final.state})"])


# ---- tables ----


def table_name(parser: argparse.ArgumentParser, _: Positive) -> None:
    parser.add_argument("name", metavar="TABLE")


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-region-size", type=cli.size, metavar="SIZE", help="split above this (512MiB, 10GiB)"
    )
    for switch, what in (("split", "splits"), ("merge", "merges"), ("normalization", "the normalizer")):
        parser.add_argument(
            f"--{switch}",
            dest=f"{switch}_enabled",
            action=argparse.BooleanOptionalAction,
            help=f"allow {what} of this table's regions",
        )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    names = ("max_region_size", "split_enabled", "merge_enabled", "normalization_enabled")
    return {name: getattr(args, name) for name in names}


def create_table_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    table_name(parser, positive)
    parser.add_argument(
        "--family",
        action="append",
        required=True,
        type=cli.family,
        metavar="NAME[:KEY=VALUE,...]",
        help="a column family, repeatable; settings versions=N, min_versions=N, ttl=7d (e.g. cf:versions=3)",
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument(
        "--regions", type=positive, metavar="N", help="that many regions over the byte key space"
    )
    split.add_argument(
        "--split-key", action="append", metavar="KEY", help="a split key, UTF-8 (repeatable, increasing)"
    )
    _settings_arguments(parser)


def create_table(admin: Admin, args: argparse.Namespace) -> Result:
    split_keys = [k.encode() for k in args.split_key] if args.split_key else None
    handle = admin.create_table(
        args.name, args.family, split_keys=split_keys, num_regions=args.regions, wait=False, **_settings(args)
    )
    return _follow(
        handle,
        args,
        f"create table {args.name}",
        f"table {args.name!r} created with {handle.regions:,} regions",
    )


def simple_table_procedure(method: str, past: str) -> Callable[[Admin, argparse.Namespace], Result]:
    def command(admin: Admin, args: argparse.Namespace) -> Result:
        handle = getattr(admin, method)(args.name, wait=False)
        return _follow(
            handle, args, f"{method.split('_')[0]} table {args.name}", f"table {args.name!r} {past}"
        )

    return command


def truncate_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    table_name(parser, positive)
    parser.add_argument(
        "--no-preserve-splits", action="store_true", help="one region afterwards, not the same ones"
    )


def truncate_table(admin: Admin, args: argparse.Namespace) -> Result:
    handle = admin.truncate_table(args.name, preserve_splits=not args.no_preserve_splits, wait=False)
    return _follow(handle, args, f"truncate table {args.name}", f"table {args.name!r} truncated")


def modify_table_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    table_name(parser, positive)
    parser.add_argument(
        "--family",
        action="append",
        type=cli.family,
        metavar="NAME[:KEY=VALUE,...]",
        help="replace the families with these (families left out are deleted with their data)",
    )
    _settings_arguments(parser)


def modify_table(admin: Admin, args: argparse.Namespace) -> Result:
    handle = admin.modify_table(args.name, families=args.family, wait=False, **_settings(args))
    return _follow(handle, args, f"modify table {args.name}", f"table {args.name!r} modified")


def family_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("table", metavar="TABLE")
    parser.add_argument("family", metavar="FAMILY")
    if parser.prog.endswith("delete-family"):
        return
    parser.add_argument(
        "--max-versions", type=positive, metavar="N", help="versions kept of a cell (default 1)"
    )
    parser.add_argument(
        "--min-versions", type=int, metavar="N", help="versions kept even past the ttl (default 0)"
    )
    parser.add_argument(
        "--ttl",
        type=cli.duration,
        default=argparse.SUPPRESS,  # absent: not given; None: forever
        metavar="DURATION",
        help="3600, 30m, 7d, or forever (the default)",
    )


def family_procedure(method: str, past: str) -> Callable[[Admin, argparse.Namespace], Result]:
    def command(admin: Admin, args: argparse.Namespace) -> Result:
        from meta.types import ColumnFamily

        settings = {k: getattr(args, k) for k in ("max_versions", "min_versions", "ttl") if hasattr(args, k)}
        family: str | ColumnFamily = args.family
        if method == "modify_family" and "ttl" in settings and settings["ttl"] is None:
            # "forever" cannot be said by keyword (None is "keep"): send the whole family.
            current = admin.describe_table(args.table).family(args.family) or ColumnFamily(args.family)
            kept = {"max_versions": current.max_versions, "min_versions": current.min_versions}
            family = ColumnFamily(
                args.family, **{**kept, **{k: v for k, v in settings.items() if v is not None}}
            )
            settings = {}
        handle = getattr(admin, method)(args.table, family, wait=False, **settings)
        verb = method.split("_")[0]
        return _follow(
            handle,
            args,
            f"{verb} family {args.family} of {args.table}",
            f"family {args.family!r} of table {args.table!r} {past}",
        )

    return command


def describe_table(admin: Admin, args: argparse.Namespace) -> Result:
    t = admin.describe_table(args.name)
    s = t.settings
    size = f"{s.max_region_size:,} bytes" if s.max_region_size else "the cluster default"
    families = Table(
        ("family", "max versions", "min versions", "ttl"),
        [(f.name, str(f.max_versions), str(f.min_versions), ttl_text(f.ttl)) for f in t.families],
    )
    lines: list[str | Table] = [
        f"table {t.name}: {t.state.name}, {t.regions:,} regions ({by_state(t.regions_by_state)})"
        + (f", locked by procedure {t.locked_by}" if t.locked_by else ""),
        f"max region size {size}; split {_on(s.split_enabled)}, merge {_on(s.merge_enabled)}, "
        f"normalization {_on(s.normalization_enabled)}",
        "",
        families,
    ]
    return Result(table_json(t), lines)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def list_tables(admin: Admin, args: argparse.Namespace) -> Result:
    tables = admin.list_tables()
    rows = [
        (
            t.name,
            t.state.name,
            f"{t.regions:,}",
            ", ".join(f.name for f in t.families),
            str(t.locked_by or "-"),
        )
        for t in tables
    ]
    return Result(
        {"tables": [table_json(t) for t in tables]},
        [Table(("table", "state", "regions", "families", "locked by"), rows)],
    )


def table_regions(admin: Admin, args: argparse.Namespace) -> Result:
    locations = admin.table_regions(args.name)
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
    return Result(
        {"regions": [location_json(loc) for loc in locations]},
        [Table(("region", "start key", "end key", "state", "server", "procedure"), rows)],
    )
