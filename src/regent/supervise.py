"""Child processes that never outlive their parent: used by `regent local` and the benchmarks.

Each child is started with PR_SET_PDEATHSIG = SIGKILL, so the kernel kills it the moment its parent dies,
even by SIGKILL. Children are spawned (never forked after gRPC is up) and log to files of their own.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Ports we choose lie below the kernel's ephemeral range. A socket bound to port 0 (a daemon's status
# page, any outgoing connection) gets its port from that range, so it can never take one of ours in the
# moment between our choice and the daemon's own bind. Chosen from the kernel's range instead, a port
# just released was handed to the next status page, and the daemon meant for it could not listen.
_LOWEST_PORT = 10000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: PORT_RANGE_ENV="LOW-HIGH" narrows the range (each worker of a parallel test run takes its own share,
#: so that two processes never choose the same port: tests/conftest.py).
PORT_RANGE_ENV = "REGENT_PORT_RANGE"
#: The ports handed out last, oldest first: none is chosen again before this many others (a daemon
#: restarted on its old port finds it free).
_RECENT = 2000
_handed_out: OrderedDict[int, None] = OrderedDict()
_random = random.SystemRandom()  # not the `random` module's state, which tests may seed


def below_ephemeral_range() -> int:
    """The highest port below the kernel's ephemeral range (32767 where the range cannot be read)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0]) - 1
    except (OSError, ValueError, IndexError):
        return 32767


def port_range() -> tuple[int, int] | None:
    """The lowest and highest port free_ports chooses from: $REGENT_PORT_RANGE, else 10000 up to the
    kernel's ephemeral range; None where that leaves too few ports (the kernel then chooses)."""
    text = os.environ.get(PORT_RANGE_ENV, "")
    if not text:
        highest = below_ephemeral_range()
        return (_LOWEST_PORT, highest) if highest - _LOWEST_PORT >= 1000 else None
    low, _, high = text.partition("-")
    try:
        chosen = (int(low), int(high))
    except ValueError:
        chosen = (0, 0)
    if not 1024 <= chosen[0] < chosen[1] <= 65535:
        raise ValueError(f"${PORT_RANGE_ENV} must be LOW-HIGH with 1024 <= LOW < HIGH <= 65535, got {text!r}")
    return chosen


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing is bound to now and that this process has not handed
    out lately, chosen in port_range() (below the kernel's ephemeral range: see above)."""
    bounds = port_range()
    if bounds is None:
        return _kernel_ports(count)
    low, high = bounds
    recent = min(_RECENT, (high - low + 1) // 2)
    chosen: list[int] = []
    for _ in range(100 * count + 1000):
        if len(chosen) == count:
            break
        port = _random.randint(low, high)
        if port not in _handed_out and port not in chosen and _bindable(port):
            chosen.append(port)
    if len(chosen) < count:
        raise RuntimeError(f"no {count} free loopback ports found in {low}-{high}")
    for port in chosen:
        _handed_out[port] = None
    while len(_handed_out) > recent:
        _handed_out.popitem(last=False)
    return chosen


def _kernel_ports(count: int) -> list[int]:
    """`count` distinct free ports the kernel picks (bound together, so the kernel gives distinct ones)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class ChildDied(RuntimeError):
    """A child exited while it was expected to run."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Children:
    """A group of child processes, stopped together (SIGTERM, then SIGKILL after `grace_s`)."""

    def __init__(self, logdir: Path, *, grace_s: float = 5.0) -> None:
        self.logdir = logdir
        self.grace_s = grace_s
        self.children: list[Child] = []
        logdir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: Sequence[str]) -> Child:
        log = self.logdir / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_die_with_parent
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raise ChildDied naming the first child that exited, with the end of its log."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise ChildDied(f"{child.name} exited with code {code}:\n{child.tail()}")

    def stop(self, order: Sequence[Child] | None = None) -> None:
        """SIGTERM every child (in `order` if given), wait up to grace_s, SIGKILL what is left."""
        for child in order or self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["PORT_RANGE_ENV", "ChildDied", "Children", "below_ephemeral_range", "free_ports", "port_range"]
