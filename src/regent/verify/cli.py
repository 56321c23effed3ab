"""`regent verify serving`: watch a running cluster for any moment two RegionServers serve one region.

    regent verify serving --master H:P --duration 60 [--json]

Every RegionServer the active master lists (ClusterStatus, refreshed every --refresh seconds; a server
once listed stays watched for the rest of the run, since a server the master gave up on that still serves
is exactly what this looks for) is asked in turn for its open regions, many times a second, with the
`admin` client certificate (regent.verify.serving says why sequential answers prove a double service).
Each double service is printed on stderr when seen; at the end a summary on stdout (one JSON document with
--json). Exit codes: 0 none seen, 1 a double service seen (or no RegionServer answered, or one refused), 2
bad usage, 4 no master reachable.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from regent import connect_options
from regent.admin_cli import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, seconds

#: How long the master gets to answer the first ClusterStatus (no master there: exit 4 after this).
CONNECT_TIMEOUT_S = 5.0

EXAMPLE = """example (against `make run`'s cluster, for a minute, while you kill and move things):
  regent verify serving --master 127.0.0.1:16000 --certs-dir .regent-local/certs --duration 60

exit codes:
  0  no region was served by two RegionServers at once
  1  a double service was seen (each one: the region, both servers, when), or a RegionServer refused
  2  bad usage
  4  no master reachable (to list the RegionServers)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`regent verify` and its commands."""
    parser.description = "Check a running cluster's promises."
    sub = parser.add_subparsers(dest="verify_command", required=True, metavar="COMMAND")
    watch = sub.add_parser(
        "serving",
        help="sample every RegionServer's open regions; report any region two servers served at once",
        description="Sample every RegionServer's open regions many times a second and report any moment "
        "two servers served the same region.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connect_options.add_arguments(watch)
    watch.add_argument(
        "--duration", type=seconds, default=60.0, metavar="S", help="how long to watch (default 60)"
    )
    watch.add_argument(
        "--refresh",
        type=seconds,
        default=1.0,
        metavar="S",
        help="how often to ask the master for the list of RegionServers (default 1)",
    )
    watch.add_argument(
        "--probe-timeout",
        type=seconds,
        default=0.5,
        metavar="S",
        help="how long one RegionServer may take to answer (default 0.5)",
    )
    watch.add_argument("--json", action="store_true", help="print one JSON document on stdout")


@dataclass(slots=True)
class ServerList:
    """Every RegionServer address the master has listed during the run, refreshed every `every` seconds;
    a refresh that fails (a failover) keeps the list as it was and is counted."""

    admin: Any
    every: float
    addresses: dict[str, None] = field(default_factory=dict)
    refreshed_at: float = -1e9
    failed_refreshes: int = 0

    def __call__(self) -> list[str]:
        from client.errors import RegentError

        now = time.monotonic()
        if now - self.refreshed_at >= self.every:
            self.refreshed_at = now
            try:
                status = self.admin.cluster_status(timeout=max(self.every, 2.0))
            except RegentError:
                self.failed_refreshes += 1
            else:
                for live in status.servers:
                    self.addresses.setdefault(live.server.address)
        return list(self.addresses)


def run(args: argparse.Namespace) -> int:
    if args.verify_command == "serving":
        return serve(args)
    raise AssertionError(args.verify_command)


def serve(args: argparse.Namespace) -> int:
    """Watch for --duration seconds; return the exit code."""
    import grpc

    from client.errors import MasterUnavailable, RegentError
    from regent import tls
    from regent.verify.serving import OnlineProbe, ServingWatch

    try:
        transport = connect_options.transport(args)
        connection = connect_options.connect(args, args.master, timeout=10.0)
    except (tls.CertError, ValueError) as exc:
        return _fail(EXIT_USAGE, str(exc))
    probe = OnlineProbe(transport, args.probe_timeout)
    try:
        try:
            connection.admin().cluster_status(timeout=CONNECT_TIMEOUT_S)
        except RegentError as exc:
            code = EXIT_UNREACHABLE if isinstance(exc, MasterUnavailable) else EXIT_REFUSED
            return _fail(code, f"{exc} (is a master running there? give --master H:P)")
        servers = ServerList(connection.admin(), args.refresh)
        print(
            f"regent verify serving: watching {len(servers())} RegionServers for {args.duration:g}s",
            file=sys.stderr,
            flush=True,
        )
        watch = ServingWatch(servers, probe)
        started = time.monotonic()
        deadline = started + args.duration
        try:
            while time.monotonic() < deadline:
                for double in watch.sample():
                    print(
                        f"regent verify serving: {_when(double.at)} DOUBLE SERVICE: {double}",
                        file=sys.stderr,
                        flush=True,
                    )
                time.sleep(0.005)
        except grpc.RpcError as exc:
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            return _fail(
                EXIT_REFUSED,
                f"a RegionServer refused GetOnlineRegions: {details} (it answers the admin certificate "
                "only: --user admin)",
            )
        elapsed = time.monotonic() - started
    finally:
        probe.close()
        connection.close()
    report = {
        "ok": not watch.found and watch.answers > 0,
        "duration_s": round(elapsed, 3),
        "rounds": watch.rounds,
        "answers": watch.answers,
        "answers_per_s": round(watch.answers / elapsed, 1) if elapsed else 0.0,
        "servers": sorted(servers.addresses),
        "failed_refreshes": servers.failed_refreshes,
        "double_services": [d.to_json() for d in watch.found],
    }
    if args.json:
        print(json.dumps(report))
    elif watch.found:
        print(f"{len(watch.found)} double service(s) in {elapsed:.1f}s:")
        for double in watch.found:
            print(f"  {_when(double.at)} {double}")
    elif not watch.answers:
        print("no RegionServer answered: nothing was checked", file=sys.stderr)
    else:
        print(
            f"no double service: {watch.answers} answers from {len(servers.addresses)} RegionServers in "
            f"{watch.rounds} rounds over {elapsed:.1f}s ({report['answers_per_s']}/s)"
        )
    return EXIT_OK if not watch.found and watch.answers else EXIT_REFUSED


def _when(at: float) -> str:
    """A wall-clock time for people: 2026-12-01T11:51:20.113Z."""
    moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fail(code: int, message: str) -> int:
    print(f"regent: error: {' '.join(message.split())}", file=sys.stderr)
    return code


__all__ = ["ServerList", "add_arguments", "run", "serve"]
