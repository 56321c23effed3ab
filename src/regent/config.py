"""Settings shared by the daemons and the CLI, and parsing of the addresses operators type."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

#: gRPC channel and server options every Regent process uses. SO_REUSEPORT is off so that a port in use
#: is an error rather than two daemons silently sharing it; messages may be large (columnar batches).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS: list[tuple[str, int]] = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

#: Channels reconnect fast: gRPC's default backoff (1 s, growing 1.6x to 120 s) would leave a RegionServer or
#: a client failing fast for seconds after a master restarts or fails over.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    *GRPC_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
]


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """Parse "host:port"; raise ValueError saying what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port with a port in 1..65535, got {text!r}")
    return Address(host, int(port))


def parse_addresses(text: str) -> list[Address]:
    """Parse "host:port[,host:port...]"."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"expected host:port[,host:port...], got {text!r}")
    return [parse_address(p) for p in parts]


def port_problem(host: str, port: int) -> str | None:
    """Why a daemon cannot listen on host:port (in use, address not local), or None if it can.

    Checked with a plain socket before gRPC binds, so the operator gets one clear line rather than gRPC's
    own log output.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like gRPC: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: the port is in use"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None
