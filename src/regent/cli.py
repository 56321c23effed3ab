"""The `regent` command: daemons, the local cluster, benchmarks."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from regent import admin_cli, certs_cli, local

if TYPE_CHECKING:
    from regent.transport import Transport

#: The master's max_region_size for tables that set none (HBase's hbase.hregion.max.filesize: 10 GiB).
DEFAULT_MAX_REGION_SIZE = 10 << 30


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _slop(text: str) -> float:
    """The balancer's slop: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value:g}")
    return value


def _share(text: str) -> float:
    """A share of a whole: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value:g}")
    return value


def _region_size(text: str) -> int:
    value = _positive(text)
    if not 1 << 20 <= value < 1 << 50:
        raise argparse.ArgumentTypeError(f"expected a size of 1 MiB..1 PiB in bytes, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {value}")
    return value


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """--certs-dir and --insecure, the same for every daemon (docs/security.md)."""
    parser.add_argument(
        "--certs-dir",
        type=Path,
        default=None,
        help="the cluster's certificates (ca.crt, node.crt, node.key): mutual TLS on every connection "
        "(default $REGENT_CERTS_DIR; make them with `regent certs`)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="plain text: no TLS, no authentication, no authorization (development only)",
    )


def _transport(args: argparse.Namespace) -> Transport:
    from regent import transport

    return transport.resolve(args.certs_dir, args.insecure, what="--certs-dir")


def add_http_arguments(parser: argparse.ArgumentParser, example: int) -> None:
    """--http-host and --http-port: the daemon's status pages and /metrics (docs/operations.md)."""
    parser.add_argument(
        "--http-port",
        type=_http_port,
        default=0,
        help=f"port of the status pages and /metrics (e.g. {example}); 0, the default, picks a free one "
        "(the http_started log line says which)",
    )
    parser.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="address of the status pages (default 127.0.0.1: this machine only; see docs/security.md)",
    )


def _http_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535 (0: a free one), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regent", description="Regent: a region coordinator in the style of HBase 2.x."
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    master = sub.add_parser("master", help="run a master (active, or backup until the active one dies)")
    master.add_argument("--rootdir", type=Path, required=True, help="the cluster's root directory")
    master.add_argument("--port", type=_port, required=True, help="gRPC port to listen on")
    master.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    master.add_argument(
        "--min-servers",
        type=_count,
        default=1,
        help="RegionServers to wait for before the startup assignment (default 1). 0: take over at once "
        "on a new ROOTDIR, so that procedures run with no RegionServer yet (their regions wait for one)",
    )
    master.add_argument(
        "--startup-grace-ms",
        type=_positive,
        default=3000,
        help="how long to wait for RegionServers meta knew to come back (default 3000)",
    )
    master.add_argument(
        "--max-attempts",
        type=_positive,
        default=10,
        help="failed opens of a region before it is FAILED_OPEN (default 10)",
    )
    master.add_argument(
        "--hung-master-ms",
        type=_positive,
        default=10_000,
        help="a backup kills an active master on this host that is silent this long (default 10000)",
    )
    master.add_argument(
        "--heartbeat-ms",
        type=_positive,
        default=1000,
        help="how often RegionServers report to the master (default 1000)",
    )
    master.add_argument(
        "--lease-ms",
        type=_positive,
        default=3000,
        help="how long a RegionServer stays live without a heartbeat; at least twice --heartbeat-ms "
        "(default 3000)",
    )
    master.add_argument(
        "--reopen-share",
        type=_share,
        default=0.2,
        help="modify_table and family changes reopen a table's regions with at most this share of them "
        "out of service at once (at least one region); in (0, 1] (default 0.2)",
    )
    master.add_argument(
        "--balancer-period-ms",
        type=_positive,
        default=300_000,
        help="how often the balancer runs (default 300000); a run's moves not started within a period "
        "are left for the next run",
    )
    master.add_argument(
        "--balancer-slop",
        type=_slop,
        default=0.2,
        help="the balancer acts when a server holds more than ceil(average * (1 + slop)) or fewer than "
        "floor(average * (1 - slop)) regions, or none while another holds two; in [0, 1) (default 0.2)",
    )
    master.add_argument(
        "--catalog-janitor-period-ms",
        type=_positive,
        default=300_000,
        help="how often the catalog janitor reports holes, overlaps, unknown servers and stuck regions "
        "(default 300000)",
    )
    master.add_argument(
        "--default-max-region-size",
        type=_region_size,
        default=DEFAULT_MAX_REGION_SIZE,
        help="bytes a region of a table without its own max_region_size may grow to before its "
        f"RegionServer asks for a split (default {DEFAULT_MAX_REGION_SIZE}: 10 GiB, HBase's)",
    )
    master.add_argument(
        "--normalizer-period-ms",
        type=_positive,
        default=300_000,
        help="how often the normalizer splits large and merges small regions of the tables that opted in "
        "(normalization_enabled) (default 300000)",
    )
    master.add_argument(
        "--normalizer-max-plans",
        type=_positive,
        default=100,
        help="splits and merges one normalizer run submits at most; the rest wait for the next (default 100)",
    )
    master.add_argument(
        "--normalizer-max-merge-regions",
        type=_positive,
        default=100,
        help="regions one normalizer merge takes at most, at least 2 (default 100)",
    )
    master.add_argument(
        "--balancer-max-in-transition",
        type=_count,
        default=0,
        help="regions in transition at once while the balancer or a decommission moves regions "
        "(default 0: a tenth of the regions, at least 100)",
    )

    add_security_arguments(master)
    add_http_arguments(master, 16010)

    rs = sub.add_parser("regionserver", help="run a RegionServer")
    rs.add_argument("--rootdir", type=Path, required=True, help="the cluster's root directory")
    rs.add_argument("--master", required=True, help="master address(es): host:port[,host:port...]")
    rs.add_argument("--port", type=_port, required=True, help="gRPC port to listen on")
    rs.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rs.add_argument(
        "--max-cell-bytes",
        type=_positive,
        default=10 * 1024 * 1024,
        help="largest cell accepted (row, family, qualifier and value together; default 10 MiB)",
    )
    rs.add_argument(
        "--scanner-timeout",
        type=_positive_seconds,
        default=60.0,
        help="seconds a scanner may stay idle before it is forgotten (default 60)",
    )
    rs.add_argument(
        "--max-scanners",
        type=_positive,
        default=10_000,
        help="open scanners allowed at once on this server (default 10000)",
    )
    rs.add_argument(
        "--small-commits",
        choices=("auto", "thread"),
        default="auto",
        help="where a commit of at most 100 cells runs: auto, on the event loop while the disk's commits "
        "are quick (cheaper in CPU; the default), or thread, always in a commit thread (a commit that "
        "waits never holds up the server's other regions); docs/operations.md",
    )
    rs.add_argument(
        "--wal",
        choices=("on", "off"),
        default="on",
        help="on (the default): small puts and deletes are made durable in the server's write-ahead log, "
        "shared by its regions, and flushed into the regions' stores later; off: every write is "
        "committed to its region's store (docs/operations.md)",
    )
    rs.add_argument(
        "--wal-cleaner-interval",
        type=_positive_seconds,
        default=60.0,
        help="seconds between looks at the write-ahead logs of stopped servers, each removed once every "
        "region it logged for was taken over (default 60)",
    )
    add_security_arguments(rs)
    add_http_arguments(rs, 16030)

    from gateway.thrift import daemon as thrift_daemon

    thrift_daemon.add_arguments(
        sub.add_parser(
            "thrift",
            help="HBase's Thrift gateway (the Hbase service happybase speaks) over the cluster",
            description="Serve HBase's Thrift1 Hbase service, so that happybase programs work unchanged. "
            "Example: regent thrift --master 127.0.0.1:16000 --certs-dir certs --port 9090",
        ),
        _positive,
        _port,
    )
    local.add_arguments(
        sub.add_parser("local", help="a local cluster: masters and RegionServers as child processes")
    )
    admin_cli.add_arguments(
        sub.add_parser(
            "admin", help="operator commands against the active master (status, move, bypass, ...)"
        ),
        _positive,
    )

    from regent.chaos import cli as chaos_cli
    from regent.verify import cli as verify_cli

    verify_cli.add_arguments(
        sub.add_parser(
            "verify",
            help="check a running cluster's promises (serving: no region served twice; linked-list: no "
            "write lost)",
        )
    )
    chaos_cli.add_arguments(
        sub.add_parser(
            "chaos", help="a chaos monkey: kill, pause, restart daemons, move regions, change families"
        )
    )

    certs_cli.add_arguments(
        sub.add_parser("certs", help="make the cluster CA and node and client certificates (mutual TLS)")
    )

    bench = sub.add_parser("bench", help="benchmarks; each prints one JSON object")
    bench_sub = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    bmeta = bench_sub.add_parser(
        "meta", help="region-state transitions through meta's single writer vs raw LMDB"
    )
    bmeta.add_argument("--regions", type=_positive, default=1_000_000)
    bmeta.add_argument("--callers", type=_positive, default=10, help="concurrent callers (default 10)")
    bmeta.add_argument(
        "--batch", type=_positive, default=1000, help="rows per submitted batch (default 1000)"
    )
    bassign = bench_sub.add_parser(
        "assign", help="startup assignment of N regions on K RegionServers, and its floor"
    )
    bassign.add_argument("--regions", type=_positive, default=1_000_000)
    bassign.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bassign.add_argument("--servers", type=_positive, default=10)
    bassign.add_argument("--json", action="store_true", help="print only the JSON object (no progress bar)")
    bassign.add_argument("--skip-floor", action="store_true", help="do not measure the floor")
    bassign.add_argument(
        "--profile", type=Path, help="write a pyinstrument profile of the master here (.html or .txt)"
    )
    bddl = bench_sub.add_parser(
        "ddl", help="create, disable, enable, modify and delete a table of N regions on K RegionServers"
    )
    bddl.add_argument("--regions", type=_positive, default=100_000)
    bddl.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bddl.add_argument("--servers", type=_positive, default=10)
    bddl.add_argument("--json", action="store_true", help="print only the JSON object")
    bbal = bench_sub.add_parser(
        "balance", help="empty RegionServers join a loaded cluster: seconds and moves until balanced"
    )
    bbal.add_argument("--regions", type=_positive, default=100_000)
    bbal.add_argument(
        "--servers", type=_positive, default=5, help="RegionServers holding the table (default 5)"
    )
    bbal.add_argument(
        "--joining", type=_positive, default=5, help="empty RegionServers that join (default 5)"
    )
    bbal.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bbal.add_argument("--json", action="store_true", help="print only the JSON object")
    bstore = bench_sub.add_parser(
        "region-store", help="a region's group commit on the event loop vs a writer thread; batched puts"
    )
    bstore.add_argument("--callers", type=_positive, default=50, help="concurrent writers (default 50)")
    bstore.add_argument("--cells", type=_positive, default=10, help="cells per written row (default 10)")
    bstore.add_argument("--batch-rows", type=_positive, default=10_000, help="rows of the batched put")
    bpath = bench_sub.add_parser(
        "data-path",
        help="in process: a RegionServer's CPU per YCSB scan (E) and per update (A), on one region store",
    )
    bpath.add_argument("--records", type=_positive, default=20_000, help="rows in the region (default 20000)")
    bpath.add_argument("--scans", type=_positive, default=1000, help="scans per round (default 1000)")
    bpath.add_argument("--updates", type=_positive, default=1000, help="updates (default 1000)")
    bpath.add_argument("--rounds", type=_positive, default=3, help="rounds of scans, the fastest counts")
    bpath.add_argument("--profile", type=Path, metavar="DIR", help="pyinstrument profiles into DIR")
    bthrift = bench_sub.add_parser(
        "thrift",
        help="YCSB A, C, E through happybase + the Thrift gateway vs the SDK's Table, same run, same data",
    )
    bthrift.add_argument("--records", type=_positive, default=10_000, help="records loaded (default 10000)")
    bthrift.add_argument("--servers", type=_positive, default=3, help="RegionServers (default 3)")
    bthrift.add_argument("--regions", type=_positive, default=6, help="regions of the table (default 6)")
    bthrift.add_argument("--threads", type=_positive, default=8, help="client threads per path (default 8)")
    bthrift.add_argument("--ops", type=_positive, default=1000, help="operations per thread (default 1000)")
    bthrift.add_argument("--workloads", default="A,C,E", help="YCSB workloads to run (default A,C,E)")
    bthrift.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bthrift.add_argument("--json", action="store_true", help="print only the JSON lines")
    bdata = bench_sub.add_parser(
        "data",
        help="YCSB's load and workloads A, B, C, E through the SDK, with an LMDB and a transport floor",
    )
    bdata.add_argument("--records", type=_positive, default=1_000_000, help="rows loaded (default 1,000,000)")
    bdata.add_argument("--regions", type=_positive, default=100)
    bdata.add_argument("--servers", type=_positive, default=3)
    bdata.add_argument("--clients", type=_positive, default=4, help="client processes (default 4)")
    bdata.add_argument("--threads", type=_positive, default=4, help="threads per client process (default 4)")
    bdata.add_argument(
        "--ops", type=_positive, default=100_000, help="operations per workload (default 100,000)"
    )
    bdata.add_argument(
        "--workloads", default="A,B,C,E", help="comma-separated YCSB workloads (default A,B,C,E)"
    )
    bdata.add_argument(
        "--wal",
        choices=("on", "off"),
        default="on",
        help="the RegionServers' --wal (default on): on makes small writes durable in a shared log",
    )
    bdata.add_argument(
        "--rounds",
        type=_positive,
        default=3,
        help="slices of each workload, alternating with slices of its transport floor (default 3)",
    )
    bdata.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bdata.add_argument("--json", action="store_true", help="print only the JSON lines (no progress)")
    bdata.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile the first RegionServer and one client thread per workload with pyinstrument into DIR "
        "(regionserver.txt, client-<workload>.txt); the figures are then slowed by the profiler",
    )
    bsplit = bench_sub.add_parser(
        "split", help="a region of 1 GB split under a read/write load: how long client calls wait"
    )
    bsplit.add_argument(
        "--region-bytes",
        type=_positive,
        default=1 << 30,
        help="bytes of cells in the region split (default 1 GiB)",
    )
    bsplit.add_argument("--servers", type=_positive, default=2)
    bsplit.add_argument("--threads", type=_positive, default=4, help="client threads (default 4)")
    bsplit.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    bsplit.add_argument("--json", action="store_true", help="print only the JSON object")
    broll = bench_sub.add_parser(
        "rolling-restart",
        help="every RegionServer moved off, restarted and moved back in turn, then a master failover, "
        "under a client load",
    )
    broll.add_argument("--regions", type=_positive, default=10_000, help="regions (default 10,000)")
    broll.add_argument("--rows", type=_positive, default=1_000_000, help="rows loaded (default 1,000,000)")
    broll.add_argument("--servers", type=_positive, default=5, help="RegionServers, at least 2 (default 5)")
    broll.add_argument("--clients", type=_positive, default=2, help="client processes (default 2)")
    broll.add_argument("--threads", type=_positive, default=4, help="threads per client process (default 4)")
    broll.add_argument(
        "--client-timeout",
        type=_positive_seconds,
        default=10.0,
        help="deadline of each client call, s (default 10)",
    )
    broll.add_argument(
        "--lease-ms",
        type=_positive,
        help="the masters' RegionServer lease (default theirs, 3000), at least 2000 (twice the heartbeat)",
    )
    broll.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    broll.add_argument("--json", action="store_true", help="print only the JSON object")
    brec = bench_sub.add_parser(
        "recovery", help="MTTR after a RegionServer SIGKILL, and master failover time"
    )
    brec.add_argument("--mttr-regions", type=_positive, default=100_000)
    brec.add_argument("--insecure", action="store_true", help="plain text (default: mutual TLS)")
    brec.add_argument("--failover-regions", type=_positive, default=1_000_000)
    brec.add_argument("--servers", type=_positive, default=10)
    brec.add_argument("--json", action="store_true", help="print only the JSON object")
    return parser


#: The exit status of a command whose output went to a closed pipe (`regent admin ... | head -1`): what a
#: shell reports for a program killed by SIGPIPE (128 + 13), as a C tool would end; `set -o pipefail`
#: scripts already know it.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> None:
    """Run one `regent` command. Output to a closed pipe ends it quietly with EXIT_BROKEN_PIPE, whatever
    the command: Python ignores SIGPIPE, so the write (or the final flush) raises BrokenPipeError instead."""
    try:
        try:
            _run(argv)
        finally:
            sys.stdout.flush()  # here, not at exit, where a failure is only a line of noise and status 120
    except BrokenPipeError:
        # Whatever is still buffered must go somewhere, or the flush at exit fails again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)


def _run(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    from regent import logs
    from regent.chaos import cli as chaos_cli
    from regent.verify import cli as verify_cli

    try:
        if args.command == "master":
            from master import daemon
            from master.active import AssignmentConfig
            from master.chores.balancer import BalancerConfig
            from master.chores.normalizer import NormalizerConfig
            from master.chores.normalizer_plan import NormalizerLimits

            if args.normalizer_max_merge_regions < 2:
                build_parser().error(
                    "--normalizer-max-merge-regions must be at least 2, got "
                    f"{args.normalizer_max_merge_regions}"
                )
            if args.lease_ms < 2 * args.heartbeat_ms:
                build_parser().error(
                    f"--lease-ms ({args.lease_ms}) must be at least twice "
                    f"--heartbeat-ms ({args.heartbeat_ms})"
                )
            logs.configure("master", level=args.log_level, master=f"{args.host}:{args.port}")
            transport = _transport(args)
            assignment = AssignmentConfig(
                min_servers=args.min_servers,
                startup_grace_s=args.startup_grace_ms / 1000,
                max_attempts=args.max_attempts,
                heartbeat_ms=args.heartbeat_ms,
                lease_ms=args.lease_ms,
                reopen_share=args.reopen_share,
                catalog_janitor_period_s=args.catalog_janitor_period_ms / 1000,
                default_max_region_size=args.default_max_region_size,
                balancer=BalancerConfig(
                    period_s=args.balancer_period_ms / 1000,
                    slop=args.balancer_slop,
                    max_in_transition=args.balancer_max_in_transition,
                ),
                normalizer=NormalizerConfig(
                    period_s=args.normalizer_period_ms / 1000,
                    limits=NormalizerLimits(
                        max_plans=args.normalizer_max_plans,
                        max_merge_regions=args.normalizer_max_merge_regions,
                    ),
                ),
            )
            daemon.run(
                daemon.MasterConfig(
                    rootdir=args.rootdir,
                    port=args.port,
                    host=args.host,
                    hung_master_s=args.hung_master_ms / 1000,
                    assignment=assignment,
                    transport=transport,
                    http_host=args.http_host,
                    http_port=args.http_port,
                )
            )
        elif args.command == "regionserver":
            from regent.config import parse_addresses
            from regionserver import daemon as rs_daemon

            try:
                masters = parse_addresses(args.master)
            except ValueError as exc:
                build_parser().error(f"--master: {exc}")
            logs.configure("regionserver", level=args.log_level, server=f"{args.host}:{args.port}")
            config = rs_daemon.RegionServerConfig(
                args.rootdir,
                masters,
                args.port,
                args.host,
                transport=_transport(args),
                max_cell_bytes=args.max_cell_bytes,
                scanner_timeout_s=args.scanner_timeout,
                max_scanners=args.max_scanners,
                small_commits_on_loop=args.small_commits == "auto",
                wal=args.wal == "on",
                wal_cleaner_interval_s=args.wal_cleaner_interval,
                http_host=args.http_host,
                http_port=args.http_port,
            )
            rs_daemon.run(config)
        elif args.command == "thrift":
            from gateway.thrift import daemon as thrift_daemon

            try:
                thrift_config = thrift_daemon.config_from(args)
            except ValueError as exc:
                build_parser().error(str(exc))
            logs.configure("thrift", level=args.log_level, gateway=f"{args.host}:{args.port}")
            sys.exit(thrift_daemon.run(thrift_config))
        elif args.command == "certs":
            sys.exit(certs_cli.run(args))
        elif args.command == "local":
            sys.exit(local.main(args))
        elif args.command == "verify":
            sys.exit(verify_cli.run(args))
        elif args.command == "chaos":
            logs.configure("chaos", level="warning")
            sys.exit(chaos_cli.run(args))
        elif args.command == "admin":
            try:
                admin_cli.run(args)
            except ValueError as exc:  # what the SDK checks before any call: the operator's arguments
                print(f"regent: error: {exc}", file=sys.stderr)
                sys.exit(1)
        elif args.command == "bench":
            logs.configure("bench", level="warning")
            from regent.bench import security

            security.use_insecure(getattr(args, "insecure", False))
            if args.bench == "meta":
                from regent.bench import meta

                print(json.dumps(meta.run(args.regions, args.callers, args.batch)))
            elif args.bench == "region-store":
                from regent.bench import region_store

                print(
                    json.dumps(
                        region_store.run(callers=args.callers, cells=args.cells, batch_rows=args.batch_rows)
                    )
                )
            elif args.bench == "data-path":
                from regent.bench import data_path

                print(
                    json.dumps(
                        data_path.run(
                            args.records,
                            args.scans,
                            args.updates,
                            rounds=args.rounds,
                            profile=args.profile,
                        )
                    )
                )
            elif args.bench == "thrift":
                from regent.bench import thrift, ycsb

                workloads = tuple(w.strip().upper() for w in args.workloads.split(",") if w.strip())
                unknown = [w for w in workloads if w not in ycsb.WORKLOADS]
                if unknown or not workloads:
                    build_parser().error(f"--workloads: expected some of {', '.join(ycsb.WORKLOADS)}")
                for line in thrift.run(
                    records=args.records,
                    servers=args.servers,
                    regions=args.regions,
                    threads=args.threads,
                    ops=args.ops,
                    workloads=workloads,
                    quiet=args.json,
                ):
                    print(json.dumps(line), flush=True)
            elif args.bench == "data":
                from regent.bench import data, ycsb

                unknown = [w for w in args.workloads.upper().split(",") if w.strip() not in ycsb.WORKLOADS]
                if unknown:
                    known = ", ".join(ycsb.WORKLOADS)
                    print(
                        f"regent: error: unknown workload {unknown[0].strip()!r} (known: {known})",
                        file=sys.stderr,
                    )
                    sys.exit(2)

                for line in data.run(
                    records=args.records,
                    regions=args.regions,
                    servers=args.servers,
                    processes=args.clients,
                    threads=args.threads,
                    ops=args.ops,
                    workloads=tuple(w.strip().upper() for w in args.workloads.split(",") if w.strip()),
                    quiet=args.json,
                    profile=args.profile,
                    rounds=args.rounds,
                    wal=args.wal == "on",
                ):
                    print(json.dumps(line), flush=True)
            elif args.bench == "recovery":
                from regent.bench import recovery

                print(
                    json.dumps(
                        recovery.run(args.mttr_regions, args.failover_regions, args.servers, quiet=args.json)
                    )
                )
            elif args.bench == "split":
                from regent.bench import split

                print(
                    json.dumps(
                        split.run(
                            region_bytes=args.region_bytes,
                            servers=args.servers,
                            threads=args.threads,
                            quiet=args.json,
                        )
                    )
                )
            elif args.bench == "rolling-restart":
                from regent.bench import rolling_restart

                if args.servers < 2:
                    build_parser().error("--servers: a rolling restart needs at least 2 RegionServers")
                if args.lease_ms is not None and args.lease_ms < 2000:
                    build_parser().error("--lease-ms: at least 2000 (twice the RegionServers' heartbeat)")
                result = rolling_restart.run(
                    args.regions,
                    args.rows,
                    args.servers,
                    clients=args.clients,
                    threads=args.threads,
                    client_timeout_s=float(args.client_timeout),
                    lease_ms=args.lease_ms,
                    quiet=args.json,
                )
                print(json.dumps(result))
            elif args.bench == "balance":
                from regent.bench import balance

                print(json.dumps(balance.run(args.regions, args.servers, args.joining, quiet=args.json)))
            elif args.bench == "ddl":
                from regent.bench import ddl

                print(json.dumps(ddl.run(args.regions, args.servers, quiet=args.json)))
            elif args.bench == "assign":
                from regent.bench import assign

                print(
                    json.dumps(
                        assign.run(
                            args.regions,
                            args.servers,
                            quiet=args.json,
                            floor=not args.skip_floor,
                            profile=args.profile,
                        )
                    )
                )
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in {"master", "meta", "regionserver", "client", "regent"}:
            print(f"regent: error: {exc}", file=sys.stderr)
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
