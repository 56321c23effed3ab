"""`regent chaos`: run the chaos monkey against a cluster (regent.chaos says how it is built).

    regent chaos --local ROOTDIR --policy default --duration 5m --seed 42 --min-live 2
    regent chaos --start 3 --duration 60                # on a `regent local` cluster of its own
    regent chaos --master H:P --policy regions ...      # any cluster: actions through the master only

The action log is JSON lines on stdout (and in --log FILE); a summary by kind on stderr at the end.
Exit codes: 0 the run ended and the cluster converged, 1 it did not converge (or the table could not be
made ready), 2 bad usage, 4 no cluster reachable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from regent import connect_options, local_state
from regent.admin_cli import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, seconds
from regent.chaos import start

if TYPE_CHECKING:
    from client.connection import Connection
    from regent.chaos.model import Model

DEFAULT_TABLE = "chaos"
DEFAULT_REGIONS = 8
DEFAULT_FAMILY = "f"

EPILOG = """examples:
  regent local --rootdir /tmp/rl --backup-masters 1 &        # a cluster whose daemons chaos may signal
  regent chaos --local /tmp/rl --policy default --duration 5m --seed 42 --min-live 2
  regent chaos --start 3 --duration 60 --seed 7              # a cluster of its own, removed at the end
  regent chaos --local /tmp/rl --seed 42 --duration 5m --dry-run   # the plan, without acting
  regent chaos --list-policies

exit codes:
  0  the run ended and the cluster converged (every region OPEN on a live server)
  1  the cluster did not converge within --settle-timeout, or the table could not be made ready
  2  bad usage
  4  no cluster reachable (no master, or no `regent local` on --local)"""


class UsageError(Exception):
    """The arguments cannot work with this cluster: one line saying why and what to give instead."""


def duration(text: str) -> float:
    """Seconds: 90, 90s, 30m, 2h."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration such as 60, 90s, 30m or 2h, got {text!r}"
        )
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from regent.chaos.policies import POLICIES

    parser.description = (
        "A chaos monkey: kills, pauses and restarts daemons, kills the active master, moves regions and "
        "changes column families, at random intervals, reproducibly from --seed."
    )
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        type=Path,
        metavar="ROOTDIR",
        help="act on the daemons of the `regent local` running on ROOTDIR (it lists them in "
        "ROOTDIR/local.json and restarts them when asked)",
    )
    where.add_argument(
        "--start",
        type=_count(1),
        metavar="N",
        help="start a `regent local` of N RegionServers (and --backup-masters) in a temporary ROOTDIR, "
        "act on it, stop it at the end",
    )
    connect_options.add_arguments(parser, master_default=None)
    parser.add_argument(
        "--policy",
        choices=sorted(POLICIES),
        default="default",
        help="which actions, how often (default default)",
    )
    parser.add_argument(
        "--duration", type=duration, default=60.0, metavar="D", help="60, 90s, 30m (default 60s)"
    )
    parser.add_argument(
        "--seed",
        type=_count(0),
        default=None,
        help="the random seed (default: a fresh one, printed on stderr)",
    )
    parser.add_argument(
        "--min-live",
        type=_count(0),
        default=1,
        metavar="N",
        help="never leave fewer than N RegionServers running and not paused (default 1)",
    )
    parser.add_argument(
        "--table", default=DEFAULT_TABLE, help=f"the table to act on (default {DEFAULT_TABLE})"
    )
    parser.add_argument(
        "--regions",
        type=_count(1),
        default=DEFAULT_REGIONS,
        help=f"regions of the table when chaos creates it (default {DEFAULT_REGIONS})",
    )
    parser.add_argument(
        "--backup-masters", type=_count(0), default=1, help="with --start: backup masters (default 1)"
    )
    parser.add_argument("--keep", action="store_true", help="with --start: keep the ROOTDIR (and its logs)")
    parser.add_argument(
        "--settle-timeout",
        type=seconds,
        default=120.0,
        metavar="S",
        help="how long the cluster gets to converge after the run (default 120)",
    )
    parser.add_argument("--log", type=Path, metavar="FILE", help="also write the action log to FILE")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (JSON lines) without acting")
    parser.add_argument("--list-policies", action="store_true", help="print the policies and exit")


def run(args: argparse.Namespace) -> int:
    if args.list_policies:
        return _list_policies(sys.stdout)
    if args.start is not None and args.min_live > args.start:
        return _fail(
            EXIT_USAGE, f"--min-live {args.min_live} is more than the {args.start} RegionServers of --start"
        )
    with contextlib.ExitStack() as stack:
        try:
            rootdir = args.local
            if args.start is not None:
                rootdir = stack.enter_context(start.started_cluster(args))
            state = local_state.read_state(rootdir.resolve()) if rootdir is not None else None
        except local_state.LocalStateError as exc:
            return _fail(EXIT_UNREACHABLE, str(exc))
        except start.StartFailed as exc:
            return _fail(EXIT_REFUSED, str(exc))
        try:
            return _run_on(args, rootdir.resolve() if rootdir else None, state, stack)
        except UsageError as exc:
            return _fail(EXIT_USAGE, str(exc))


def _run_on(
    args: argparse.Namespace,
    rootdir: Path | None,
    state: local_state.LocalState | None,
    stack: contextlib.ExitStack,
) -> int:
    from client.errors import MasterUnavailable, RegentError
    from regent.chaos.cluster import ChaosCluster
    from regent.chaos.model import Limits
    from regent.chaos.policies import POLICIES
    from regent.chaos.runner import RunConfig, Runner

    policy = POLICIES[args.policy]
    if state is None and policy.needs_signals:
        raise UsageError(
            f"policy {policy.name} only signals processes: give --local ROOTDIR (a `regent local` cluster) "
            "or --start N, or choose --policy regions"
        )
    servers = len(state.of_role("regionserver")) if state is not None else None
    if servers is not None and args.min_live > servers:
        raise UsageError(f"--min-live {args.min_live} is more than the cluster's {servers} RegionServers")
    master = args.master or (state.masters if state is not None else None)
    if master is None:
        raise UsageError("give --master H:P, or --local ROOTDIR / --start N")
    if state is not None and args.certs_dir is None and not args.insecure:
        args.insecure = state.insecure
        args.certs_dir = state.certs_dir
    try:
        connection = stack.enter_context(connect_options.connect(args, master, timeout=30.0))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    if args.seed is None:
        print(f"regent chaos: seed {seed} (replay with --seed {seed})", file=sys.stderr)
    try:
        model = _initial_model(connection, args, state, create=not args.dry_run)
    except MasterUnavailable as exc:
        return _fail(EXIT_UNREACHABLE, f"{exc} (is a master running there? give --master H:P)")
    except RegentError as exc:
        return _fail(EXIT_REFUSED, f"cannot make table {args.table} ready: {type(exc).__name__}: {exc}")
    config = RunConfig(seed, policy, args.duration, Limits(args.min_live), args.settle_timeout)
    sink = stack.enter_context(open(args.log, "w")) if args.log else None  # noqa: SIM115

    def emit(record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=False)
        print(line, flush=True)
        if sink is not None:
            print(line, file=sink, flush=True)

    if args.dry_run:
        return _dry_run(config, model, emit)
    stop = threading.Event()
    previous = _stop_on_sigint(stop)
    try:
        cluster = ChaosCluster(connection, rootdir, args.table, stop)
        summary = Runner(cluster, model, config, emit, stop).run()
    finally:
        signal.signal(signal.SIGINT, previous)
    print(summary.table(), file=sys.stderr)
    return EXIT_OK if summary.converged else EXIT_REFUSED


def _initial_model(
    connection: Connection, args: argparse.Namespace, state: local_state.LocalState | None, *, create: bool
) -> Model:
    """The model a run starts from: the daemons of `state`, the table's regions and families (the table is
    created first, with --regions regions and family f, unless it exists or this is a dry run)."""
    from client.errors import TableNotFound

    admin = connection.admin()
    try:
        described = admin.describe_table(args.table)
    except TableNotFound:
        if not create:
            return _model(state, args.table, args.regions, (DEFAULT_FAMILY,))
        admin.create_table(args.table, {DEFAULT_FAMILY: {}}, num_regions=args.regions, timeout=120.0)
        described = admin.describe_table(args.table)
    model: Model = _model(state, args.table, described.regions, tuple(f.name for f in described.families))
    return model


def _model(
    state: local_state.LocalState | None, table: str, regions: int, families: tuple[str, ...]
) -> Model:
    from regent.chaos.model import Model

    if state is None:
        return Model((), (), table, regions, families, can_signal=False)
    rs = state.of_role("regionserver")
    masters = state.of_role("master")
    return Model(
        regionservers=tuple(f"regionserver #{i}" for i in range(len(rs))),
        masters=tuple(d.name for d in masters),
        table=table,
        regions=regions,
        families=families,
        killed=frozenset(f"regionserver #{i}" for i, d in enumerate(rs) if not d.running),
        masters_killed=sum(1 for d in masters if not d.running),
    )


def _dry_run(config: Any, model: Model, emit: Callable[[dict[str, Any]], None]) -> int:
    from regent.chaos.actions import REGISTRY, heal
    from regent.chaos.plan import plan

    emit(
        {
            "event": "start",
            "seed": config.seed,
            "policy": config.policy.name,
            "duration_s": config.duration,
            "min_live": config.limits.min_live,
            "model": model.describe(),
            "dry_run": True,
        }
    )
    seq = 0
    for planned in plan(config.seed, config.policy, config.duration, model, config.limits):
        seq = planned.seq
        model = planned.model
        emit(
            {
                "event": "action",
                "seq": seq,
                "phase": "chaos",
                "at": planned.at,
                **planned.step.to_json(),
                "running_regionservers": len(model.running_regionservers),
                "in_service_regionservers": len(model.in_service),
            }
        )
    for step in heal(model):
        seq += 1
        model = REGISTRY[step.kind].apply(model, step)
        emit(
            {
                "event": "action",
                "seq": seq,
                "phase": "heal",
                "at": None,
                **step.to_json(),
                "running_regionservers": len(model.running_regionservers),
                "in_service_regionservers": len(model.in_service),
            }
        )
    return EXIT_OK


def _stop_on_sigint(stop: threading.Event) -> Any:
    """The first Ctrl-C ends the chaos phase (the run still heals and checks convergence); a second one
    interrupts at once."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(
            "regent chaos: interrupted: healing, then checking convergence (Ctrl-C again to quit)",
            file=sys.stderr,
        )
        stop.set()

    return signal.signal(signal.SIGINT, handler)


def _list_policies(out: TextIO) -> int:
    from regent.chaos.actions import REGISTRY
    from regent.chaos.policies import POLICIES

    for policy in POLICIES.values():
        print(f"{policy.name}: {policy.help}", file=out)
        for kind, weight in policy.weights:
            needs = "  (needs --local or --start)" if REGISTRY[kind].needs_signals else ""
            print(f"  {kind:<26} weight {weight}{needs}", file=out)
    return EXIT_OK


def _fail(code: int, message: str) -> int:
    print(f"regent: error: {' '.join(message.split())}", file=sys.stderr)
    return code


__all__ = ["add_arguments", "duration", "run"]
