"""Master election: the active master holds an exclusive flock on ROOTDIR/master.lock.

The operating system releases the lock the instant its holder dies, so a backup blocked on it takes over at
once. The holder writes its address, pid and epoch into the file for operators (`cat ROOTDIR/master.lock`).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
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

    def close(self) -> None:
        if self.held:
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # releases the lock
        self.held = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
