"""`regent thrift` gateways as real processes for tests: start one on a free loopback port against a
cluster, wait until it accepts connections, and open happybase connections to it."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from typing import Any

import happybase

from tests.cluster import LOOPBACK, Cluster, Daemon, Daemons, free_port, wait_until

#: (transport, protocol) pairs happybase can select, as its Connection arguments name them.
COMBINATIONS = [("buffered", "binary"), ("buffered", "compact"), ("framed", "binary"), ("framed", "compact")]


class Gateway:
    """A running `regent thrift` process: its Daemon, port, transport and protocol."""

    def __init__(self, daemon: Daemon, port: int, transport: str, protocol: str) -> None:
        self.daemon = daemon
        self.port = port
        self.transport = transport
        self.protocol = protocol

    def connect(self, **kw: Any) -> happybase.Connection:
        """An unmodified happybase Connection to this gateway."""
        return happybase.Connection(
            LOOPBACK, self.port, transport=self.transport, protocol=self.protocol, **kw
        )

    def pool(self, size: int) -> happybase.ConnectionPool:
        return happybase.ConnectionPool(
            size, host=LOOPBACK, port=self.port, transport=self.transport, protocol=self.protocol
        )

    def __repr__(self) -> str:
        return f"Gateway({self.port}, {self.transport}, {self.protocol})"


def accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


def start_gateway(
    daemons: Daemons,
    masters: str,
    *,
    transport: str = "buffered",
    protocol: str = "binary",
    insecure: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 20.0,
) -> Gateway:
    """Start `regent thrift` against `masters` and wait until its port accepts connections."""
    port = free_port()
    args = ["thrift", "--master", masters, "--port", str(port)]
    if transport == "framed":
        args.append("--framed")
    if protocol == "compact":
        args.append("--compact")
    if insecure:
        args.append("--insecure")
    daemon = daemons.start([*args, *extra_args], name=f"thrift-{port}")
    wait_until(
        lambda: accepts(port) or ((not daemon.alive and daemon.log_tail()) and None),
        timeout,
        f"the Thrift gateway on port {port}",
        context=daemon.log_tail,
    )
    return Gateway(daemon, port, transport, protocol)


def gateway_for(cluster: Cluster, **kw: Any) -> Gateway:
    return start_gateway(cluster.daemons, cluster.master_addresses, insecure=cluster.insecure, **kw)


__all__ = ["COMBINATIONS", "Gateway", "accepts", "gateway_for", "start_gateway"]
