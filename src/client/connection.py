"""A connection to a Regent cluster: finds the active master from any master's address and follows it.

Every master answers GetClusterInfo, backups included, with whether it is active, which master is, and
every running master (regent.discovery). So the active one is found by asking every known master at once,
then any master they name, and keeping the one that says active=true; the masters named are remembered, so
a failover is followed even when only one address was given. Every other call goes through
`Connection._call`, the one place that knows what is worth retrying: the master being unreachable, an
attempt that ran out of time, or a master that is not active (a failover in progress). A refusal that names
the active master is followed at once; the others are retried against a freshly discovered active master,
with backoff, until the call's own deadline. Any other refusal is the master's answer and is raised at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import grpc  # type: ignore[import-untyped, unused-ignore]

from client.errors import (
    MasterUnavailable,
    NotActiveMaster,
    RegentError,
    TlsMismatch,
    error_name,
    from_rpc_error,
    status_name,
    trailing_metadata,
)
from regent import tls
from regent.config import parse_addresses
from regent.discovery import MASTERS_REFRESH_S, MAX_REDIRECTS, Discovery, KnownMasters, MasterAnswer, redirect
from regent.proto import master_pb2, master_pb2_grpc
from regent.transport import resolve

if TYPE_CHECKING:
    from client.admin import Admin
    from client.routing import Router
    from client.table import Table

#: How long one master gets to say whether it is active. Short: a master that cannot answer this in a
#: second is of no use to the caller, and a stopped (SIGSTOP) one must not eat the whole deadline.
PROBE_TIMEOUT_S = 1.0
#: Backoff between rounds of retries: start small (a failover completes in well under a second once the
#: old master's lock is gone), double, and cap so that a returning master is noticed quickly.
BACKOFF_START_S = 0.05
BACKOFF_CAP_S = 1.0

#: CANCELLED: a master that shuts down (SIGTERM, a failover) cancels the calls it is serving, a
#: LocateRegions waiting for a region to open among them (bench rolling-restart saw it).
_RETRYABLE_STATUS = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


def _retryable(exc: grpc.RpcError) -> bool:
    return status_name(exc) in _RETRYABLE_STATUS or error_name(exc) == NotActiveMaster.__name__


def _describe(exc: grpc.RpcError) -> str:
    """One short phrase for a failed attempt, for the MasterUnavailable message."""
    details = getattr(exc, "details", None)
    text = details() if callable(details) else ""
    name = error_name(exc)
    return f"{name or status_name(exc) or 'error'}" + (f" ({text})" if text else "")


def _deliver_to(answers: queue.SimpleQueue[tuple[str, Any]], address: str) -> Callable[[Any], None]:
    """A done-callback that hands a finished probe, with its address, to the discovering thread."""

    def deliver(future: Any) -> None:
        answers.put((address, future))

    return deliver


class Connection:
    """A connection to the masters of one cluster: "host:port[,host:port...]".

    Thread-safe: any number of threads may share one Connection (gRPC channels are). `timeout` is the
    default deadline of every call, retries included; each Admin method takes its own `timeout` too.
    `rpc_timeout` bounds one attempt of a data call (default 10 s or `timeout`, the smaller), so that a
    RegionServer that hangs costs one attempt and the call goes on elsewhere.
    Channels are created lazily, one per master address, and closed by `close()` (or leaving a `with`).

    Every channel is mutual TLS with the certificate `client.USER.crt` of `certs_dir` (default
    $REGENT_CERTS_DIR; `user` defaults to "admin"), or plain text with `insecure=True`; neither is a
    ValueError that says what to give. A master that speaks the other one, or belongs to another cluster,
    raises TlsMismatch at once rather than after the deadline.
    """

    def __init__(
        self,
        masters: str,
        *,
        timeout: float = 30.0,
        certs_dir: str | None = None,
        user: str = "admin",
        insecure: bool = False,
        rpc_timeout: float | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if rpc_timeout is not None and rpc_timeout <= 0:
            raise ValueError(f"rpc_timeout must be positive, got {rpc_timeout}")
        try:
            self._transport = resolve(certs_dir, insecure, user, what="certs_dir=")
        except tls.CertError as exc:
            raise ValueError(str(exc)) from None
        self._diagnosed: set[str] = set()
        self._known = KnownMasters(str(a) for a in parse_addresses(masters))
        self._learned_at = 0.0  # monotonic time the list of masters was last asked for
        self._timeout = timeout
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, master_pb2_grpc.MasterStub] = {}
        self._active: str | None = None
        self._closed = False
        self._rpc_timeout = rpc_timeout
        self._data: Router | None = None

    @property
    def masters(self) -> tuple[str, ...]:
        """The master addresses this connection knows: those given, then the others the masters named."""
        return self._known.all

    @property
    def timeout(self) -> float:
        """The default deadline of a call, in seconds."""
        return self._timeout

    @property
    def active_master(self) -> str | None:
        """The address of the master last found active, or None if none has been found (yet, or since it
        stopped answering)."""
        return self._active

    def admin(self) -> Admin:
        from client.admin import Admin

        return Admin(self)

    def table(self, name: str | bytes, *, timeout: float | None = None) -> Table:
        """Table `name`, for reading and writing rows (happybase's Table; docs/data.md). Cheap: it
        shares this connection's location cache and RegionServer channels. `timeout` is the deadline of
        each of its calls (default the connection's)."""
        from client.table import Table

        return Table(self, name, timeout=timeout)

    def router(self) -> Router:
        """The data path: location caches and a channel per RegionServer (client/routing.py)."""
        from client.routing import RPC_TIMEOUT_S, Router

        with self._lock:
            if self._closed:
                raise RegentError("the connection is closed")
            if self._data is None:
                self._data = Router(
                    self._call,
                    self._transport.channel,
                    rpc_timeout=self._rpc_timeout or min(RPC_TIMEOUT_S, self._timeout),
                )
            return self._data

    # ---- the one call path ----

    def _call(
        self,
        method_name: str,
        request: Any,
        timeout: float | None = None,
        *,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Any:
        """Call Master.<method_name> on the active master, retrying what a failover explains.

        Retried, after finding the active master again: UNAVAILABLE (master down, restarting, or shutting
        down), CANCELLED (a call cut off by the master's shutdown), DEADLINE_EXCEEDED of an attempt, and
        NotActiveMaster. Each attempt gets the rest of the
        call's deadline, so a slow but working master is waited for rather than sent the request twice.
        When the deadline passes, MasterUnavailable names every address tried and what each said.
        Any other error is the master's answer and is raised at once as its named RegentError.
        `metadata` goes with every attempt (a DDL request's nonce: client.base).
        """
        total = self._timeout if timeout is None else timeout
        deadline = time.monotonic() + total
        backoff = BACKOFF_START_S
        problems: dict[str, str] = {}
        redirects = 0
        while True:
            address = self._active or self._discover(deadline, problems)
            remaining = deadline - time.monotonic()
            if address is not None and remaining > 0:
                method = getattr(self._stub(address), method_name)
                try:
                    response = method(request, timeout=remaining, metadata=metadata or None)
                except grpc.RpcError as exc:
                    if not _retryable(exc):
                        raise from_rpc_error(exc) from None
                    problems[address] = _describe(exc)
                    self._forget(address)
                    target = redirect(trailing_metadata(exc), address)
                    if target is not None and redirects < MAX_REDIRECTS:
                        redirects += 1  # a backup named the active master: go there now
                        with self._lock:
                            self._active = target
                        continue
                else:
                    self._refresh_masters(address)
                    return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, BACKOFF_CAP_S)
        tried = list(dict.fromkeys([*self._known.all, *problems]))
        said = "; ".join(f"{a}: {problems.get(a, 'no answer')}" for a in tried)
        raise MasterUnavailable(
            f"no active master reachable within {total:.3g}s (tried {', '.join(tried)}): {said}",
            addresses=tuple(tried),
        )

    def _discover(self, deadline: float, problems: dict[str, str]) -> str | None:
        """Ask every known master at once whether it is active, then any master their answers name;
        remember and return the first that says it is active.

        The probes run in parallel (gRPC futures) and are read as they complete, so a hung master (stopped,
        or on an unreachable host) costs nothing when another one is active, and at most PROBE_TIMEOUT_S
        when none is. Each address's answer is recorded in `problems` for the final error message.
        """
        probe_timeout = min(PROBE_TIMEOUT_S, deadline - time.monotonic())
        if probe_timeout <= 0:
            return None
        request = master_pb2.GetClusterInfoRequest()
        answers: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        futures = []
        discovery = Discovery(self._known)

        def ask(addresses: list[str]) -> None:
            for address in addresses:
                future = self._stub(address).GetClusterInfo.future(request, timeout=probe_timeout)
                future.add_done_callback(_deliver_to(answers, address))
                futures.append(future)

        try:
            ask(discovery.first())
            while not discovery.done:
                # The probes' own deadline ends every one of them; the margin only covers callback delivery.
                address, future = answers.get(timeout=probe_timeout + 1.0)
                try:
                    info = future.result()
                except grpc.RpcError as exc:
                    self._diagnose(address, exc)
                    discovery.failed(address, _describe(exc))
                    continue
                ask(discovery.answered(address, MasterAnswer.from_info(info)))
        except queue.Empty:
            pass
        finally:
            for future in futures:
                future.cancel()  # a no-op for the finished ones
        problems.update(discovery.problems)
        found = discovery.finish()
        if found is not None:
            with self._lock:
                self._active = found
                self._learned_at = time.monotonic()
        return found

    def _diagnose(self, address: str, exc: grpc.RpcError) -> None:
        """Raise TlsMismatch for a failed handshake no retry mends: a master in plain text while we
        speak TLS or the reverse, or one of another cluster. Checked once per address."""
        text = _describe(exc).lower()
        if address in self._diagnosed or ("handshake" not in text and "socket closed" not in text):
            return
        self._diagnosed.add(address)
        problem = tls.mismatch(address, self._transport.creds)
        if problem is not None:
            raise TlsMismatch(f"cannot connect: master {problem}")

    def _refresh_masters(self, address: str) -> None:
        """Every MASTERS_REFRESH_S, ask the active master for the list of masters, without waiting for the
        answer: a backup started since the last discovery is then known when the active master dies."""
        now = time.monotonic()
        with self._lock:
            if now - self._learned_at < MASTERS_REFRESH_S or self._closed:
                return
            self._learned_at = now
        future = self._stub(address).GetClusterInfo.future(
            master_pb2.GetClusterInfoRequest(), timeout=PROBE_TIMEOUT_S
        )
        future.add_done_callback(self._learn_from)

    def _learn_from(self, future: Any) -> None:
        try:
            info = future.result()
        except (grpc.RpcError, grpc.FutureCancelledError):
            return
        self._known.learn(info.masters)

    def _forget(self, address: str) -> None:
        with self._lock:
            if self._active == address:
                self._active = None

    def _stub(self, address: str) -> master_pb2_grpc.MasterStub:
        with self._lock:
            if self._closed:
                raise RegentError("the connection is closed")
            stub = self._stubs.get(address)
            if stub is None:
                channel = self._transport.channel(address)
                self._channels[address] = channel
                stub = self._stubs[address] = master_pb2_grpc.MasterStub(channel)
            return stub

    # ---- lifecycle ----

    def close(self) -> None:
        """Close every channel. Calls in flight fail; later calls raise RegentError. Idempotent."""
        with self._lock:
            self._closed = True
            channels = list(self._channels.values())
            self._channels.clear()
            self._stubs.clear()
            self._active = None
            data, self._data = self._data, None
        for channel in channels:
            channel.close()
        if data is not None:
            data.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"active={self._active}"
        return f"Connection({','.join(self._known.configured)!r}, {state})"


__all__ = ["Connection"]
