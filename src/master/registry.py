"""The masters of a cluster: ROOTDIR/masters/ holds one file per running master, named by its address.

Each master creates its file when it has bound its port (before the election, so backups are listed too)
and holds an exclusive flock on it for as long as it runs. The kernel releases the lock the instant the
process dies, however it dies, so a file whose lock nobody holds is a dead master's: readers skip it and
remove it. This is HBase's list of backup masters (ephemeral znodes in ZooKeeper) on the file system the
election already relies on, and it is what every master answers in GetClusterInfo.masters.

The file holds "host:port pid=N" for operators (`cat ROOTDIR/masters/*`) and to tell a master restarted on
the same address from the one that announced itself in master.lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from master.election import Announcement
from master.errors import MasterStartError


@dataclass(frozen=True, slots=True)
class RegisteredMaster:
    address: str
    pid: int | None  # None while the master is between taking its lock and writing its file


class MasterRegistry:
    def __init__(self, rootdir: Path) -> None:
        self.dir = rootdir / "masters"
        self._fd: int | None = None
        self._path: Path | None = None

    def register(self, address: str, pid: int) -> None:
        """Hold this master's file until close(); MasterStartError if it cannot be made."""
        path = self.dir / address
        try:
            self.dir.mkdir(exist_ok=True)
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                # Blocks only while a reader that found the file unlocked holds it to remove it: then the
                # file this fd names is gone, and a fresh one is made.
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, path):
                    break
                os.close(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{address} pid={pid}\n".encode(), 0)
        except OSError as exc:
            raise MasterStartError(f"cannot register this master in {self.dir}: {exc.strerror}") from None
        self._fd, self._path = fd, path

    def live(self) -> list[RegisteredMaster]:
        """Every master whose process holds its file now, by address; dead masters' files are removed."""
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return []
        found = []
        for name in names:
            path = self.dir / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue  # removed meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # its master holds it: alive
                    text = os.pread(fd, 256, 0).decode(errors="replace")
                    found.append(RegisteredMaster(name, Announcement.parse(text).pid))
                    continue
                if _same_file(fd, path):  # nobody holds it: its master died
                    os.unlink(path)
            except OSError:
                continue
            finally:
                os.close(fd)
        return found

    def close(self) -> None:
        if self._fd is None or self._path is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._path)  # while still holding the lock: nobody else can have replaced the file
        os.close(self._fd)
        self._fd = self._path = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
