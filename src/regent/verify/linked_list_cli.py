"""`regent verify linked-list generate|verify|walk`: HBase's IntegrationTestBigLinkedList as a tool.

    regent verify linked-list generate --master H:P --writers 4 --width 1000 --batches 10 [--seed S]
    regent verify linked-list verify --master H:P [--expect N] [--json]
    regent verify linked-list walk --master H:P [--start HEX] [--json]

`generate` writes `writers` x `width` circular lists of `batches` nodes (regent.verify.linked_list says
how), creating the table if absent; `verify` scans every region's key range in parallel and tallies the
nodes; `walk` follows one list from a node. Progress bars on stderr when it is a terminal; the summary on
stdout, one JSON document with --json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from regent import connect_options
from regent.admin_cli import EXIT_INCONSISTENT, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE

DEFAULT_TABLE = "linked_list"

EXAMPLE = """examples (against `make run`'s cluster):
  regent verify linked-list generate --master 127.0.0.1:16000 --writers 4 --width 1000 --batches 10
  regent verify linked-list verify --master 127.0.0.1:16000 --expect 40000 --json
  regent verify linked-list walk --master 127.0.0.1:16000

exit codes:
  0  done (verify: every node referenced exactly once, and --expect of them)
  1  refused by the cluster, or a write that kept timing out (the error on stderr)
  2  bad usage
  4  no master reachable
  5  verify: nodes lost or damaged (undefined, unreferenced, extra-referenced, or fewer than --expect);
     walk: the list ended at an undefined node"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def add_arguments(sub: Any) -> None:
    """`regent verify linked-list` and its commands, on `regent verify`'s subparsers."""
    parser = sub.add_parser(
        "linked-list",
        help="write circular linked lists over the key space, then check that no node was lost",
        description="HBase's IntegrationTestBigLinkedList: generate lists of nodes, verify them, walk one.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="linked_list_command", required=True, metavar="COMMAND")
    generate = commands.add_parser(
        "generate",
        help="write the lists (creating the table if absent)",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("--writers", type=_positive, default=2, help="writer threads (default 2)")
    generate.add_argument(
        "--width",
        type=_positive,
        default=1000,
        help="lists per writer = nodes per batched put (default 1000)",
    )
    generate.add_argument(
        "--batches", type=_positive, default=10, help="nodes per list = batches per writer (default 10)"
    )
    generate.add_argument(
        "--seed", type=int, default=None, help="the keys' seed (default: random, printed in the summary)"
    )
    generate.add_argument(
        "--regions",
        type=_positive,
        default=8,
        help="regions of the table when it is created, spread over the key space (default 8)",
    )
    generate.add_argument(
        "--attempts",
        type=_positive,
        default=10,
        help="times a batch is sent before its timeout is an error (default 10)",
    )
    verify = commands.add_parser(
        "verify",
        help="scan every node back, in parallel across regions, and tally them",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument(
        "--expect", type=_positive, default=None, help="the number of nodes there must be (generate says it)"
    )
    verify.add_argument("--parallel", type=_positive, default=8, help="scans at a time (default 8)")
    verify.add_argument(
        "--show", type=int, default=10, metavar="N", help="damaged keys to name per kind (default 10)"
    )
    walk = commands.add_parser(
        "walk",
        help="follow one list from a node back to it",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    walk.add_argument(
        "--start", default=None, metavar="HEX", help="the node's key in hex (default: the first row)"
    )
    walk.add_argument("--limit", type=_positive, default=1_000_000, help="steps at most (default 1000000)")
    for command in (generate, verify, walk):
        connect_options.add_arguments(command)
        command.add_argument("--table", default=DEFAULT_TABLE, help=f"the table (default {DEFAULT_TABLE})")
        command.add_argument(
            "--timeout", type=float, default=30.0, metavar="S", help="each call's deadline (default 30)"
        )
        command.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    from client.errors import MasterUnavailable, RegentError
    from regent import tls

    if args.timeout <= 0:
        return _fail(EXIT_USAGE, f"--timeout must be positive, got {args.timeout}")
    try:
        connection = connect_options.connect(args, args.master, timeout=args.timeout)
    except (tls.CertError, ValueError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    try:
        command: Callable[[Any, argparse.Namespace], int] = {
            "generate": _generate,
            "verify": _verify,
            "walk": _walk,
        }[args.linked_list_command]
        return command(connection, args)
    except MasterUnavailable as exc:
        return _fail(EXIT_UNREACHABLE, f"{exc} (is a master running there? give --master H:P)")
    except ValueError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except RegentError as exc:
        return _fail(EXIT_REFUSED, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def _generate(connection: Any, args: argparse.Namespace) -> int:
    from regent.verify import linked_list_run as io

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**63)
    created = io.ensure_table(connection, args.table, args.regions)
    table = connection.table(args.table)
    total = args.writers * args.width * (args.batches + 1)  # the first batch is written twice
    started = time.monotonic()
    with _progress("writing nodes", total) as advance:
        stats = io.generate(table, seed, args.writers, args.width, args.batches, args.attempts, advance)
    elapsed = time.monotonic() - started
    nodes = args.writers * args.width * args.batches
    report = {
        "table": args.table,
        "created": created,
        "seed": seed,
        "writers": args.writers,
        "width": args.width,
        "batches": args.batches,
        "nodes": nodes,
        "writes": stats.nodes,
        "batches_written": stats.batches,
        "retries": stats.retries,
        "longest_batch_s": round(stats.longest_batch_s, 3),
        "duration_s": round(elapsed, 3),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"wrote {nodes} nodes ({args.writers * args.width} lists of {args.batches}) to {args.table} "
            f"in {elapsed:.1f}s, seed {seed}; {stats.retries} batch retries, longest batch "
            f"{stats.longest_batch_s:.2f}s. Check them: regent verify linked-list verify --table "
            f"{args.table} --expect {nodes}"
        )
    return EXIT_OK


def _verify(connection: Any, args: argparse.Namespace) -> int:
    from regent.verify import linked_list_run as io

    table = connection.table(args.table)
    started = time.monotonic()
    with _progress("scanning nodes", args.expect) as advance:
        result = io.scan_all(table, args.parallel, advance)
    elapsed = time.monotonic() - started
    counts = result.tally.counts()
    short = args.expect is not None and counts.referenced != args.expect
    ok = counts.intact and not short
    show = max(args.show, 0)
    damaged = {
        "undefined": [k.hex() for k in result.tally.undefined_keys()[:show]],
        "unreferenced": [k.hex() for k in result.tally.unreferenced_keys()[:show]],
        "extra_referenced": [k.hex() for k in result.tally.extra_referenced_keys()[:show]],
    }
    report = {
        "ok": ok,
        "table": args.table,
        **counts.to_json(),
        "rows": result.rows,
        "expected": args.expect,
        "regions": result.regions,
        "duration_s": round(elapsed, 3),
        "keys": damaged,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{result.rows} nodes in {result.regions} regions scanned in {elapsed:.1f}s: "
            f"referenced {counts.referenced}, unreferenced {counts.unreferenced}, undefined "
            f"{counts.undefined}, extra-referenced {counts.extra_references}"
            + (f" (expected {args.expect} referenced)" if args.expect is not None else "")
        )
        for kind, keys in damaged.items():
            if keys:
                print(f"  {kind}: {' '.join(keys)}")
        print("OK: every node is referenced exactly once" if ok else "FAILED: nodes lost or damaged")
    return EXIT_OK if ok else EXIT_INCONSISTENT


def _walk(connection: Any, args: argparse.Namespace) -> int:
    from regent.verify import linked_list_run as io

    table = connection.table(args.table)
    if args.start is None:
        start = io.first_key(table)
        if start is None:
            raise ValueError(f"table {args.table!r} has no nodes to walk from (run generate first)")
    else:
        try:
            start = bytes.fromhex(args.start)
        except ValueError:
            raise ValueError(f"--start must be a key in hex, got {args.start!r}") from None
    started = time.monotonic()
    with _progress("walking", None) as advance:
        result = io.walk_from(table, start, args.limit, lambda: advance(1))
    elapsed = time.monotonic() - started
    report = {
        "start": result.start.hex(),
        "steps": result.steps,
        "end": result.end,
        "at": result.at.hex(),
        "duration_s": round(elapsed, 3),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"from {result.start.hex()}: {result.steps} steps, ended: {result.end} at {result.at.hex()}")
    return EXIT_INCONSISTENT if result.end == "undefined" else EXIT_OK


@contextmanager
def _progress(what: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr when it is a terminal (`advance(n)` from any thread); else nothing."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _fail(code: int, message: str) -> int:
    print(f"regent: error: {' '.join(message.split())}", file=sys.stderr)
    return code


__all__ = ["add_arguments", "run"]
