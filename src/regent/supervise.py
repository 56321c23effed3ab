"""Child processes that never outlive their parent: used by `regent local` and the benchmarks.

Each child is started with PR_SET_PDEATHSIG = SIGKILL, so the kernel kills it the moment its parent dies,
even by SIGKILL. Children are spawned (never forked after gRPC is up) and log to files of their own.
"""

from __future__ import annotations

import ctypes
import random
import signal
import socket
import subprocess
import time
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
_handed_out: set[int] = set()
_random = random.SystemRandom()  # not the `random` module's state, which tests may seed


def below_ephemeral_range() -> int:
    """The highest port below the kernel's ephemeral range (32767 where the range cannot be read)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0]) - 1
    except (OSError, ValueError, IndexError):
        return 32767


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that nothing is bound to now and that this process has not handed
    out before, chosen below the kernel's ephemeral range (see above)."""
    highest = below_ephemeral_range()
    if highest - _LOWEST_PORT < 1000:  # an unusual kernel range: let the kernel choose, as a last resort
        return _kernel_ports(count)
    chosen: list[int] = []
    for _ in range(100 * count + 1000):
        if len(chosen) == count:
            return chosen
        port = _random.randint(_LOWEST_PORT, highest)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            chosen.append(port)
    raise RuntimeError(f"no free loopback port found in {_LOWEST_PORT}-{highest}")


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


__all__ = ["ChildDied", "Children", "below_ephemeral_range", "free_ports"]
