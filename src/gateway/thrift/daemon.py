"""`regent thrift`: the gateway process. Its options, its start (the SDK connection, the listening socket,
the warnings), and its run until SIGTERM or SIGINT.

The gateway is an ordinary client of the cluster (DESIGN.md §12): one SDK Connection, with its location
cache, direct routing to RegionServers and master failover, shared by every Thrift connection. It reaches
the cluster with a certificate of its own (`client.thrift.crt` by default, `--user`), so whoever reaches
its Thrift port acts with that certificate's role; hence it listens on loopback unless `--host` says
otherwise, and then says loudly what that means (docs/security.md, "The Thrift gateway").
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import structlog

from gateway.thrift.calls import Gateway
from gateway.thrift.scanners import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_PER_CONNECTION, ScannerRegistry
from gateway.thrift.server import DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, ServerOptions, ThriftServer
from gateway.thrift.wire import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MESSAGE_TIMEOUT_S

log = structlog.get_logger("thrift")

#: The client certificate the gateway presents by default: client.thrift.crt.
DEFAULT_USER = "thrift"
#: The deadline of each Thrift call's work in the cluster, retries included (the SDK's default).
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ThriftConfig:
    masters: str
    options: ServerOptions
    certs_dir: Path | None = None
    insecure: bool = False
    user: str = DEFAULT_USER
    scanner_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    max_scanners_per_connection: int = DEFAULT_PER_CONNECTION
    tls_cert: Path | None = None
    tls_key: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    rpc_timeout_s: float | None = None


def add_arguments(parser: argparse.ArgumentParser, positive: type | object, port: object) -> None:
    """The options of `regent thrift` (`positive` and `port` are the CLI's argument types)."""
    parser.add_argument("--master", required=True, help="master address(es): host:port[,host:port...]")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1). Anyone who reaches the port acts on the cluster "
        "with the gateway's certificate: give another address only behind a firewall",
    )
    parser.add_argument("--port", type=port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")  # type: ignore[arg-type]
    parser.add_argument(
        "--framed", action="store_true", help="the framed transport (default buffered, as HBase's default)"
    )
    parser.add_argument("--compact", action="store_true", help="the compact protocol (default binary)")
    parser.add_argument(
        "--user",
        default=DEFAULT_USER,
        help=f"the client certificate to reach the cluster with: client.USER.crt (default {DEFAULT_USER}; "
        "role admin to serve createTable/deleteTable/..., role client for data only)",
    )
    parser.add_argument(
        "--scanner-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        help="seconds a Thrift scanner may stay unread before it is closed "
        f"(default {DEFAULT_IDLE_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-scanners-per-connection",
        type=positive,  # type: ignore[arg-type]
        default=DEFAULT_PER_CONNECTION,
        help=f"open scanners one Thrift connection may hold (default {DEFAULT_PER_CONNECTION})",
    )
    parser.add_argument(
        "--max-connections",
        type=positive,  # type: ignore[arg-type]
        default=DEFAULT_MAX_CONNECTIONS,
        help="Thrift connections served at once; more are closed at once "
        f"(default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=positive,  # type: ignore[arg-type]
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help=f"largest Thrift message or frame accepted (default {DEFAULT_MAX_MESSAGE_BYTES})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds each call may take in the cluster, retries across failovers and region moves "
        f"included, before it answers IOError (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--rpc-timeout",
        type=float,
        default=None,
        help="seconds one attempt of a call to a RegionServer may take before it is retried "
        "(default: the SDK's)",
    )
    parser.add_argument(
        "--message-timeout",
        type=float,
        default=DEFAULT_MESSAGE_TIMEOUT_S,
        help="seconds a client may pause in the middle of a message before its connection is closed "
        f"(default {DEFAULT_MESSAGE_TIMEOUT_S:g}; between messages it may stay idle as long as it likes)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        help="serve Thrift over TLS with this certificate (PEM; with --tls-key), for clients that can",
    )
    parser.add_argument("--tls-key", type=Path, default=None, help="the key of --tls-cert (PEM)")
    parser.add_argument(
        "--certs-dir",
        type=Path,
        default=None,
        help="the cluster's certificates (ca.crt and client.USER.crt/.key): mutual TLS to the cluster "
        "(default $REGENT_CERTS_DIR)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="plain text to the cluster (development only)"
    )


def config_from(args: argparse.Namespace) -> ThriftConfig:
    if not args.scanner_timeout > 0:
        raise ValueError(
            f"--scanner-timeout must be a positive number of seconds, got {args.scanner_timeout}"
        )
    for flag, value in (("--timeout", args.timeout), ("--rpc-timeout", args.rpc_timeout)):
        if value is not None and not value > 0:
            raise ValueError(f"{flag} must be a positive number of seconds, got {value}")
    if not args.message_timeout > 0:
        raise ValueError(
            f"--message-timeout must be a positive number of seconds, got {args.message_timeout}"
        )
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    options = ServerOptions(
        host=args.host,
        port=args.port,
        framed=args.framed,
        compact=args.compact,
        max_connections=args.max_connections,
        max_message_bytes=args.max_message_bytes,
        message_timeout_s=args.message_timeout,
    )
    return ThriftConfig(
        masters=args.master,
        options=options,
        certs_dir=args.certs_dir,
        insecure=args.insecure,
        user=args.user,
        scanner_timeout_s=args.scanner_timeout,
        max_scanners_per_connection=args.max_scanners_per_connection,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        timeout_s=args.timeout,
        rpc_timeout_s=args.rpc_timeout,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ssl_context(config: ThriftConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


def run(config: ThriftConfig) -> int:
    """Serve until SIGTERM or SIGINT; the exit code."""
    from client.connection import Connection

    try:
        connection = Connection(
            config.masters,
            certs_dir=str(config.certs_dir) if config.certs_dir else None,
            user=config.user,
            insecure=config.insecure,
            timeout=config.timeout_s,
            rpc_timeout=config.rpc_timeout_s,
        )
        ssl_context = _ssl_context(config)
    except (ValueError, OSError, ssl.SSLError) as exc:
        print(f"regent thrift: error: {exc}", file=sys.stderr)
        return 1
    registry = ScannerRegistry(
        idle_timeout_s=config.scanner_timeout_s, per_connection=config.max_scanners_per_connection
    )
    server = ThriftServer(Gateway(connection, registry), config.options, ssl_context=ssl_context)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        port = server.start()
    except OSError as exc:
        print(
            f"regent thrift: error: cannot listen on {config.options.host}:{config.options.port}: {exc}",
            file=sys.stderr,
        )
        connection.close()
        return 1
    address = f"{config.options.host}:{port}"
    identity = "plain text (--insecure)" if config.insecure else f"certificate client.{config.user}.crt"
    log.info(
        "thrift_started",
        address=address,
        transport=config.options.transport,
        protocol=config.options.protocol,
        tls=ssl_context is not None,
        masters=config.masters,
        cluster_identity=identity,
    )
    if not is_loopback(config.options.host):
        warning = (
            f"the Thrift gateway listens on {address}, beyond loopback: anyone who can reach that port "
            f"reads and writes the cluster as the gateway ({identity}), without a password. Put it behind "
            "a firewall, serve TLS (--tls-cert/--tls-key), or listen on 127.0.0.1."
        )
        log.warning("listening_beyond_loopback", warning=warning)
        print(f"WARNING: {warning}", file=sys.stderr)
    try:
        stop.wait()
    finally:
        server.stop()
        connection.close()
    return 0


__all__ = ["DEFAULT_USER", "ThriftConfig", "add_arguments", "config_from", "is_loopback", "run"]
