"""Master election: the active master holds an exclusive flock on ROOTDIR/master.lock.

The operating system releases the lock the instant its holder dies, so a backup blocked on it takes over at
once. The holder writes its address, pid and epoch into the file for operators (`cat ROOTDIR/master.lock`).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from master.errors import MasterStartError


class ElectionLock:
    def __init__(self, rootdir: Path) -> None:
        self.path = rootdir / "master.lock"
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MasterStartError(f"cannot open election lock {self.path}: {exc.strerror}") from None
        self.held = False

    async def acquire(self) -> None:
        """Wait until this process holds the lock (as long as it takes: that is being a backup)."""
        if self._try():
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def wait() -> None:  # a daemon thread: it must not keep a stopping backup alive
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            loop.call_soon_threadsafe(_resolve, done)

        threading.Thread(target=wait, name="election-wait", daemon=True).start()
        await done
        self.held = True

    def _try(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def announce(self, text: str) -> None:
        """Record who holds the lock (for operators; nobody relies on it)."""
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode() + b"\n", 0)

    def holder(self) -> Holder:
        """Who holds the lock: the address it announced, and its pid if it is a process of this host."""
        announced = read_announcement(self.path)
        return Holder(announced.address, announced.pid, _local_holder_pid(self.path))

    def close(self) -> None:
        if self.held:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # releases the lock
        self.held = False


@dataclass(frozen=True, slots=True)
class Announcement:
    """What a master wrote about itself: "host:port pid=N [epoch=E]" (master.lock, ROOTDIR/masters/*)."""

    address: str
    pid: int | None
    epoch: int | None

    @classmethod
    def parse(cls, text: str) -> Announcement:
        words = text.split()
        fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        pid, epoch = fields.get("pid", ""), fields.get("epoch", "")
        return cls(
            words[0] if words else "",
            int(pid) if pid.isdigit() else None,
            int(epoch) if epoch.isdigit() else None,
        )


def read_announcement(path: Path) -> Announcement:
    """The announcement in the file at `path`; an empty one if there is none (or no file)."""
    try:
        return Announcement.parse(path.read_text(errors="replace"))
    except OSError:
        return Announcement("", None, None)


@dataclass(frozen=True, slots=True)
class Holder:
    """The holder of the election lock as a backup sees it. `lock_pid` is the process of this host that holds
    the flock (from /proc/locks), None if none does (no holder, or one on another host); `announced_pid` is
    the pid the holder wrote into the file. They differ while a new holder has not announced itself yet."""

    address: str
    announced_pid: int | None
    lock_pid: int | None

    @property
    def announced(self) -> bool:
        return bool(self.address) and (self.lock_pid is None or self.lock_pid == self.announced_pid)


def _local_holder_pid(path: Path) -> int | None:
    """The pid of the process of this host holding an exclusive flock on `path`, from /proc/locks."""
    try:
        stat = os.stat(path)
        with open("/proc/locks") as locks:
            lines = locks.readlines()
    except OSError:
        return None
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4733 fe:00:2146578 0 EOF"; waiters read "1: -> FLOCK ..."
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == inode:
            return int(fields[4])
    return None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
