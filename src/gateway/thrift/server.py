"""The gateway's server: a listening socket, one thread per Thrift connection, a scanner sweeper.

Each connection gets its own thread, transport (buffered or framed) and protocol (binary or compact) over a
GuardedSocket, and its own Handler (so the scanners it opens are its own). A connection ends when its client
closes it, or when the client sends what the gateway cannot take (garbage, an oversized or malformed frame,
a stall mid-message: gateway.thrift.wire); either way only that connection is closed, its scanners are
closed with it, and everyone else is served on. An unknown method is answered with Thrift's
TApplicationException(UNKNOWN_METHOD) and the connection stays open, as any Thrift server does.

Connections beyond `max_connections` are accepted and closed at once (logged, rate-limited). With an
`ssl_context` every connection is TLS (the handshake runs on the connection's thread, with the message
timeout, so a client that never finishes it holds nobody else up).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.thrift import TProcessor
from thriftpy2.transport import TBufferedTransport, TFramedTransport, TTransportException

from gateway.thrift.calls import Gateway
from gateway.thrift.handler import Handler
from gateway.thrift.idl import Hbase
from gateway.thrift.wire import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MESSAGE_TIMEOUT_S, GuardedSocket

log = structlog.get_logger("thrift")

DEFAULT_PORT = 9090
DEFAULT_MAX_CONNECTIONS = 512
#: How often the sweeper looks for idle scanners (at most; a quarter of the idle timeout when shorter).
SWEEP_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    framed: bool = False
    compact: bool = False
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    message_timeout_s: float = DEFAULT_MESSAGE_TIMEOUT_S

    @property
    def transport(self) -> str:
        return "framed" if self.framed else "buffered"

    @property
    def protocol(self) -> str:
        return "compact" if self.compact else "binary"


class Throttled:
    """One log line per event per second at most; the lines left out are counted in the next one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, event: str, **fields: Any) -> None:
        now = self._clock()
        with self._lock:
            if now - self._last.get(event, -1e9) < 1.0:
                self._skipped[event] = self._skipped.get(event, 0) + 1
                return
            self._last[event] = now
            skipped = self._skipped.pop(event, 0)
        log.warning(event, not_logged_since_last=skipped, **fields)


class ThriftServer:
    """Serves the Hbase service over `gateway` on `options.host:options.port` until `stop()`."""

    def __init__(
        self, gateway: Gateway, options: ServerOptions, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.gateway = gateway
        self.options = options
        self.ssl_context = ssl_context
        self.protocol_factory: Any = (
            TCompactProtocolFactory() if options.compact else TBinaryProtocolFactory()
        )
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count(1)
        self._throttled = Throttled()
        self.connections_total = 0
        self.dropped_total = 0
        self.port = options.port

    # ---- lifecycle ----

    def start(self) -> int:
        """Listen and start accepting (on threads of its own); the port listened on."""
        listener = socket.create_server((self.options.host, self.options.port), backlog=128)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "thrift-accept")
        self._spawn(self._sweep_loop, "thrift-sweeper")
        return int(self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and scanner, and wait for the threads (bounded)."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            open_sockets = list(self._connections.values())
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        closed = self.gateway.scanners.close_all()
        log.info("thrift_stopped", connections_total=self.connections_total, scanners_closed=closed)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    # ---- accepting ----

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            with self._lock:
                full = len(self._connections) >= self.options.max_connections
                number = next(self._numbers)
                if not full:
                    self._connections[number] = sock
            if full:
                self._throttled.warning(
                    "connection_refused",
                    peer=_peer(peer),
                    reason=f"{self.options.max_connections} connections open, the most allowed "
                    "(--max-connections)",
                )
                sock.close()
                continue
            self.connections_total += 1
            self._spawn(self._serve, f"thrift-conn-{number}", sock, peer, number)

    def _sweep_loop(self) -> None:
        interval = min(SWEEP_INTERVAL_S, self.gateway.scanners.idle_timeout_s / 4)
        while not self._stopping.wait(interval):
            expired = self.gateway.scanners.expire()
            if expired:
                log.info(
                    "scanners_expired",
                    count=len(expired),
                    idle_timeout_s=self.gateway.scanners.idle_timeout_s,
                    expired_total=self.gateway.scanners.expired_total,
                )

    # ---- one connection ----

    def _serve(self, sock: socket.socket, peer: Any, number: int) -> None:
        reason: str | None = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self._handshake(sock, number)
            raw = GuardedSocket(
                sock,
                framed=self.options.framed,
                max_message_bytes=self.options.max_message_bytes,
                message_timeout_s=self.options.message_timeout_s,
            )
            transport: Any = TFramedTransport(raw) if self.options.framed else TBufferedTransport(raw)
            protocol = self.protocol_factory.get_protocol(transport)
            processor = TProcessor(Hbase, Handler(self.gateway, number))
            while not self._stopping.is_set():
                raw.start_message()
                processor.process(protocol, protocol)
        except TTransportException as exc:
            if exc.type != TTransportException.END_OF_FILE:
                reason = str(exc.message or exc)
        except Exception as exc:  # garbage the protocol could not parse, a failed handshake, ...
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._connections.pop(number, None)
            with contextlib.suppress(OSError):
                sock.close()
            scanners = self.gateway.scanners.close_owner(number)
            if reason is not None and not self._stopping.is_set():
                with self._lock:
                    self.dropped_total += 1
                self._throttled.warning(
                    "connection_dropped",
                    peer=_peer(peer),
                    reason=reason[:300],
                    scanners_closed=scanners,
                    dropped_total=self.dropped_total,
                )

    def _handshake(self, sock: socket.socket, number: int) -> socket.socket:
        assert self.ssl_context is not None
        sock.settimeout(self.options.message_timeout_s)
        wrapped = self.ssl_context.wrap_socket(sock, server_side=True)
        with self._lock:
            self._connections[number] = wrapped
        return wrapped


def _peer(peer: Any) -> str:
    try:
        host, port = peer[0], peer[1]
    except (TypeError, IndexError):
        return str(peer)
    return f"{host}:{port}"


__all__ = ["DEFAULT_PORT", "ServerOptions", "ThriftServer", "Throttled"]
