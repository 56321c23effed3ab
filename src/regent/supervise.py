"""Child processes that never outlive their parent: used by `regent local` and the benchmarks.

Each child is started with PR_SET_PDEATHSIG = SIGKILL, so the kernel kills it the moment its parent dies,
even by SIGKILL. Children are spawned (never forked after gRPC is up) and log to files of their own.
"""

from __future__ import annotations

import ctypes
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


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (bound together, so the kernel gives distinct ones)."""
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


__all__ = ["ChildDied", "Children", "free_ports"]
