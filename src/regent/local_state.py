"""What `regent local` tells other tools about its daemons, and how they ask it to restart one.

A small file protocol in ROOTDIR, so that a tool acting on a local cluster (`regent chaos`) needs no RPC
to the supervisor, and the supervisor stays what it must be (no gRPC, no threads, see regent.local):

    ROOTDIR/local.json                the cluster: the supervisor's pid, the masters' addresses, the
                                      certificates, and every daemon (name, role, address, pid, argv, log,
                                      incarnation, exit code once it has exited); rewritten atomically
                                      (write + rename) whenever a daemon starts or its exit is noticed,
                                      removed when the cluster stops
    ROOTDIR/local.requests/NAME       "restart daemon NAME": the supervisor looks every 0.2 s, starts NAME
                                      again with the same argv if it has exited (a request for a running
                                      daemon is dropped), removes the request, and rewrites local.json

Restarting through the supervisor rather than from the tool keeps the rule "no orphans, ever": the new
process is the supervisor's child like the first one (killed with it, stopped by its Ctrl-C), and the
state file stays the one truth about which pid is which daemon. A tool signals daemons itself (SIGKILL,
SIGSTOP, SIGCONT) by the pids the file lists.

This module imports nothing but the standard library: the supervisor uses it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "local.json"
REQUESTS_DIR = "local.requests"
VERSION = 1


class LocalStateError(Exception):
    """ROOTDIR holds no readable state of a running `regent local`: the message says what to do."""


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """One daemon of a local cluster. `incarnation` counts its starts (1 for the first); `exit_code` is
    None while the supervisor has not seen it exit (negative: killed by that signal)."""

    name: str
    role: str  # "master", "regionserver" or "thrift" (the gateway)
    address: str
    pid: int
    argv: tuple[str, ...]
    log: str
    incarnation: int = 1
    exit_code: int | None = None

    @property
    def running(self) -> bool:
        return self.exit_code is None


@dataclass(frozen=True, slots=True)
class LocalState:
    """A running `regent local` as its local.json describes it."""

    supervisor_pid: int
    rootdir: str
    masters: str
    certs_dir: str | None  # None: the cluster runs --insecure
    daemons: tuple[DaemonRecord, ...]
    version: int = VERSION

    @property
    def insecure(self) -> bool:
        return self.certs_dir is None

    def daemon(self, name: str) -> DaemonRecord:
        for record in self.daemons:
            if record.name == name:
                return record
        raise LocalStateError(f"the local cluster has no daemon {name!r} (it has {self.names()})")

    def names(self) -> list[str]:
        return [d.name for d in self.daemons]

    def of_role(self, role: str) -> list[DaemonRecord]:
        return [d for d in self.daemons if d.role == role]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["daemons"] = [{**asdict(d), "argv": list(d.argv)} for d in self.daemons]
        return out


def state_path(rootdir: Path) -> Path:
    return rootdir / STATE_FILE


def write_state(rootdir: Path, state: LocalState) -> None:
    """Replace ROOTDIR/local.json in one rename, so a reader never sees half a file."""
    path = state_path(rootdir)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(state.to_json(), indent=1) + "\n")
    os.replace(scratch, path)


def read_state(rootdir: Path) -> LocalState:
    """The state of the `regent local` running on `rootdir`; LocalStateError if there is none."""
    path = state_path(rootdir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalStateError(
            f"no {STATE_FILE} in {rootdir}: is `regent local --rootdir {rootdir}` running?"
        ) from None
    except (OSError, ValueError) as exc:
        raise LocalStateError(f"cannot read {path}: {exc}") from None
    try:
        if raw.get("version") != VERSION:
            raise LocalStateError(f"{path} has version {raw.get('version')!r}, this tool reads {VERSION}")
        daemons = tuple(DaemonRecord(**{**d, "argv": tuple(d["argv"])}) for d in raw["daemons"])
        return LocalState(
            supervisor_pid=int(raw["supervisor_pid"]),
            rootdir=str(raw["rootdir"]),
            masters=str(raw["masters"]),
            certs_dir=raw["certs_dir"],
            daemons=daemons,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise LocalStateError(f"{path} is not a regent local state file: {exc!r}") from None


def request_restart(rootdir: Path, name: str) -> None:
    """Ask the supervisor on `rootdir` to start daemon `name` again (if it has exited)."""
    requests = rootdir / REQUESTS_DIR
    requests.mkdir(exist_ok=True)
    (requests / name).touch()


def take_requests(rootdir: Path) -> list[str]:
    """The daemons asked to restart, oldest request first, each request removed (the supervisor's side)."""
    requests = rootdir / REQUESTS_DIR
    try:
        entries = sorted(requests.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = []
    for entry in entries:
        try:
            entry.unlink()
        except FileNotFoundError:
            continue
        names.append(entry.name)
    return names


def remove_state(rootdir: Path) -> None:
    for path in (state_path(rootdir),):
        path.unlink(missing_ok=True)


__all__ = [
    "REQUESTS_DIR",
    "STATE_FILE",
    "DaemonRecord",
    "LocalState",
    "LocalStateError",
    "read_state",
    "remove_state",
    "request_restart",
    "take_requests",
    "write_state",
]
