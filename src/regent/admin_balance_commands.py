"""The balancer and decommission commands of `regent admin` (HBase shell's balancer, balance_switch,
decommission_regionservers, recommission_regionserver, list_decommissioned_regionservers)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from regent import admin_cli as cli
from regent.admin_output import Result, Table, no_arguments

if TYPE_CHECKING:
    from client.admin import Admin
    from client.balance import BalancerRun

Positive = Callable[[str], int]
POLL_S = 0.2  # --wait: how often the last run is looked at
MOVES_SHOWN = 20  # moves listed in the text output (all of them with --json, up to the master's 1000)


def run_json(run: BalancerRun) -> dict[str, Any]:
    return {
        "ran": run.ran,
        "reason": run.reason,
        "dry_run": run.dry_run,
        "forced": run.forced,
        "trigger": run.trigger,
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "plan_ms": run.plan_ms,
        "servers": run.servers,
        "regions": run.regions,
        "planned": run.planned,
        "moves_done": run.moves_done,
        "moves_failed": run.moves_failed,
        "cost_before": run.cost_before,
        "cost_after": run.cost_after,
        "moves": [
            {"region_id": m.region_id, "source": str(m.source), "target": str(m.target)} for m in run.moves
        ],
    }


def run_text(run: BalancerRun) -> list[str | Table]:
    when = datetime.fromtimestamp(run.started_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    kind = "dry run" if run.dry_run else ("periodic run" if run.trigger else "run")
    if not run.ran:
        return [f"{kind} at {when}: nothing done: {run.reason}"]
    state = "finished" if run.finished else "moving"
    blocks: list[str | Table] = [
        f"{kind} at {when} ({'forced, ' if run.forced else ''}{state}): {run.reason}",
        f"  planned {run.planned:,} moves over {run.servers} servers and {run.regions:,} regions "
        f"in {run.plan_ms} ms; cost {run.cost_before:.4g} -> {run.cost_after:.4g}",
    ]
    if not run.dry_run:
        blocks.append(f"  moves done {run.moves_done:,}, failed or left {run.moves_failed:,}")
    if run.moves:
        rows = [(str(m.region_id), str(m.source), str(m.target)) for m in run.moves[:MOVES_SHOWN]]
        blocks.append(Table(("region", "from", "to"), rows))
        if run.planned > len(rows):
            blocks.append(f"  ... and {run.planned - len(rows):,} more (--json lists up to 1000)")
    return blocks


def _balance_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("--dry-run", action="store_true", help="plan and show the moves, move nothing")
    parser.add_argument(
        "--force", action="store_true", help="run even while regions are in transition (they stay put)"
    )
    parser.add_argument("--wait", action="store_true", help="wait until the run's moves are done")
    parser.add_argument(
        "--wait-timeout", type=cli.seconds, default=600.0, metavar="S", help="with --wait (default 600)"
    )


def _balance(admin: Admin, args: argparse.Namespace) -> Result:
    run = admin.balance(dry_run=args.dry_run, force=args.force)
    if args.wait and run.ran and not run.dry_run and run.planned:
        deadline = time.monotonic() + args.wait_timeout
        while True:
            last = admin.balancer_status().last_run
            if last is not None and last.started_ms == run.started_ms:
                run = last
            if run.finished:
                break
            if time.monotonic() >= deadline:
                from client.errors import ProcedureTimeout

                raise ProcedureTimeout(
                    f"the balancer run had done {run.moves_done} of {run.planned} moves at the deadline; "
                    "follow it with `regent admin balancer-status`"
                )
            time.sleep(POLL_S)
    return Result(run_json(run), run_text(run))


def _switch_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("state", choices=["on", "off"], help="on: periodic runs; off: none")


def _switch(admin: Admin, args: argparse.Namespace) -> Result:
    on = args.state == "on"
    previous = admin.balancer_switch(on)
    text = f"balancer switched {args.state} (it was {'on' if previous else 'off'})"
    return Result({"on": on, "previous": previous}, [text])


def _status(admin: Admin, args: argparse.Namespace) -> Result:
    s = admin.balancer_status()
    data = {
        "on": s.on,
        "period_s": s.period_s,
        "slop": s.slop,
        "max_in_transition": s.max_in_transition,
        "running": s.running,
        "last_run": run_json(s.last_run) if s.last_run else None,
    }
    blocks: list[str | Table] = [
        f"balancer {'on' if s.on else 'off'}, every {s.period_s:g} s, slop {s.slop:g}, at most "
        f"{s.max_in_transition:,} regions in transition at once{'; moving now' if s.running else ''}",
        *(run_text(s.last_run) if s.last_run else ["no run yet on this master"]),
    ]
    return Result(data, blocks)


def _decommission_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("servers", nargs="+", metavar="SERVER", help="H:P or H:P:startcode of a live server")
    parser.add_argument(
        "--no-offload", dest="offload", action="store_false", help="leave its regions where they are"
    )


def _decommission(admin: Admin, args: argparse.Namespace) -> Result:
    moves = admin.decommission(args.servers, offload=args.offload)
    text = f"decommissioned {', '.join(args.servers)}; " + (
        f"moving {moves:,} regions off (follow with `regent admin list-decommissioned`)"
        if args.offload
        else "its regions stay"
    )
    return Result({"servers": args.servers, "offload": args.offload, "moves": moves}, [text])


def _recommission_arguments(parser: argparse.ArgumentParser, positive: Positive) -> None:
    parser.add_argument("server", metavar="SERVER", help="H:P or H:P:startcode of a live server")
    parser.add_argument(
        "--region",
        dest="regions",
        type=positive,
        action="append",
        default=[],
        metavar="ID",
        help="a region to move back to it (repeat the option for more)",
    )


def _recommission(admin: Admin, args: argparse.Namespace) -> Result:
    moves = admin.recommission(args.server, args.regions)
    text = f"recommissioned {args.server}; moving {moves} regions back"
    return Result({"server": args.server, "moves": moves}, [text])


def _list(admin: Admin, args: argparse.Namespace) -> Result:
    servers = admin.list_decommissioned()
    rows = [
        (
            d.address,
            "yes" if d.offload else "no",
            "live" if d.live else "not running",
            str(d.regions),
            datetime.fromtimestamp(d.since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
        for d in servers
    ]
    data = {
        "servers": [
            {
                "address": d.address,
                "offload": d.offload,
                "live": d.live,
                "regions": d.regions,
                "since_ms": d.since_ms,
            }
            for d in servers
        ]
    }
    return Result(data, [Table(("RegionServer", "offload", "state", "regions", "since"), rows)])


def commands() -> tuple[Any, ...]:
    from regent.admin_commands import Command

    return (
        Command(
            "balance",
            "run the balancer now (--dry-run: show the plan only)",
            "regent admin balance --dry-run\nregent admin balance --wait",
            _balance_arguments,
            _balance,
        ),
        Command(
            "balancer-switch",
            "switch the balancer's periodic runs on or off (kept across failovers)",
            "regent admin balancer-switch off",
            _switch_arguments,
            _switch,
        ),
        Command(
            "balancer-status",
            "the balancer's switch, period, throttle and last run",
            "regent admin balancer-status\nregent admin --json balancer-status | jq .last_run.moves_done",
            no_arguments,
            _status,
        ),
        Command(
            "decommission",
            "take RegionServers out of service, moving their regions off",
            "regent admin decommission 127.0.0.1:16102",
            _decommission_arguments,
            _decommission,
        ),
        Command(
            "recommission",
            "put a decommissioned RegionServer back in service",
            "regent admin recommission 127.0.0.1:16102 --region 7 --region 9",
            _recommission_arguments,
            _recommission,
        ),
        Command(
            "list-decommissioned",
            "decommissioned RegionServers and the regions still on them",
            "regent admin list-decommissioned",
            no_arguments,
            _list,
        ),
    )
