"""Removing the write-ahead logs of stopped server incarnations once nothing in them is needed
(docs/decisions.md, "A write-ahead log shared by a server's regions", step 8).

A log ROOTDIR/wal/<host>,<port>,<startcode>/ (regionserver.data.wal) is needed while its owner runs, and
after that while a region store still names one of the claims it logged for as the store's owner with
LOGGED set and not CLEAN (regionserver.data.takeover): edits of that claim may be in the log alone. That is
a region of a crashed server not yet opened again: its table disabled, its opens failing. A claim is done
with once a newer owner took its store over (the seal and the replay are in the new claim's transaction,
which also replaced the owner record), once it closed the region CLEAN, or once its store is gone (the table
dropped, a split or merged parent removed by the janitor). When every claim of a stopped owner's log is
done with, nothing will read the log again, and it is removed.

Every RegionServer's LogCleaner looks now and then (regionserver.daemon) at the logs of the others,
whether it logs itself or not. The owner's lock (wal.OWNER_LOCK) tells whether the owner still runs, and
holding it while deciding and removing keeps two cleaners, or a cleaner and a sealer's cut of a torn
record, apart. No claim can begin to need the log while it is held: only its owner, which has stopped,
makes claims that log into it. A log without segments is one being created (its owner takes the lock
first) and is left.

A stopped log that is kept is not read again at the next look: the cleaner remembers the claims of it
not yet known to be done with (a stopped owner logs no new claim, and a claim done with stays so) and
checks only those. It opens the stores it checks through the process's Environments, so it runs in a
thread (an open may wait for another process's writer lock) and returns the environments it opened as
the least recently used.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from meta import ServerName
from regent.durable import sync_new_entries
from regionserver.data import wal
from regionserver.data.environments import Claim, Environments, exists
from regionserver.data.errors import StoreError
from regionserver.data.takeover import must_replay

log = structlog.get_logger("regionserver.data.log_cleaner")

#: Why a log is kept while its owner runs or creates it (the other reasons name what keeps it).
OWNER_RUNS = "its owner runs"
CREATING = "being created"


@dataclass(slots=True)
class Cleaned:
    """What one look found: the logs removed, and those kept with why (one reason each)."""

    removed: list[Path] = field(default_factory=list)
    kept: dict[Path, str] = field(default_factory=dict)

    @property
    def stopped_kept(self) -> int:
        """The kept logs whose owner has stopped (a region they logged for is not done with, or the log
        could not be judged)."""
        return sum(why not in (OWNER_RUNS, CREATING) for why in self.kept.values())


def incarnation(directory: Path) -> ServerName | None:
    """The server incarnation whose log `directory` is (its name: host,port,startcode), None if not one."""
    host, _, rest = directory.name.rpartition(",")
    host, _, port = host.rpartition(",")
    if not (host and port.isdigit() and rest.isdigit()):
        return None
    return ServerName(host, int(port), int(rest))


def claim_of(rootdir: Path, server: ServerName, region: bytes) -> tuple[Path, Claim]:
    """The store and the claim that a log's region name (regionserver.data.takeover.region_key) stands for."""
    where, at, seq = region.decode().rpartition("@")
    table, slash, region_id = where.rpartition("/")
    if not (at and slash and table and region_id and seq.isdigit()):
        raise ValueError(f"{region!r} is not a region of a log (<table>/<region id>@<open seq>)")
    return rootdir / "data" / table / region_id, Claim(server, int(seq))


class LogCleaner:
    """Removes the logs under ROOTDIR/wal, but `own`'s, whose owner stopped and whose claims are all done
    with (the module's doc). Not thread-safe: one look at a time."""

    def __init__(self, rootdir: Path, own: ServerName, environments: Environments) -> None:
        self.rootdir = rootdir
        self.own = own
        self.environments = environments
        #: log directory -> the claims it logged for that are not known to be done with yet
        self._pending: dict[Path, set[bytes]] = {}

    def clean(self) -> Cleaned:
        """One look at every other log."""
        found = Cleaned()
        try:
            directories = sorted(p for p in (self.rootdir / "wal").iterdir() if p.is_dir())
        except FileNotFoundError:
            directories = []
        for gone in set(self._pending) - set(directories):
            del self._pending[gone]
        for directory in directories:
            server = incarnation(directory)
            if server is None or server == self.own:
                continue
            try:
                reason = self._clean_one(directory, server)
            except (OSError, StoreError, ValueError, wal.WalError) as exc:
                if not directory.exists():
                    continue  # another server's cleaner removed it meanwhile
                reason = f"cannot be judged: {exc}"
                log.error("wal_log_not_cleaned", log=str(directory), error=str(exc))
            if reason is None:
                found.removed.append(directory)
            else:
                found.kept[directory] = reason
        if found.removed:
            log.info("wal_logs_removed", logs=[p.name for p in found.removed], kept=len(found.kept))
        return found

    def _clean_one(self, directory: Path, server: ServerName) -> str | None:
        """Remove the log in `directory` if it may be; None if removed, else why it is kept."""
        with wal.owner_stopped(directory) as stopped:
            if not stopped:
                return OWNER_RUNS
            if not wal.segment_numbers(directory):
                return CREATING
            pending = self._pending.get(directory)
            if pending is None:
                pending = self._pending[directory] = wal.LogReader(directory).claims()
            for region in sorted(pending):
                path, claim = claim_of(self.rootdir, server, region)
                if self._needs_log(path, claim):
                    return f"{region.decode()} has not been taken over"
                pending.discard(region)
            shutil.rmtree(directory)
            del self._pending[directory]
        sync_new_entries(directory.parent, [])  # the removal made durable as a creation is
        return None

    def _needs_log(self, path: Path, claim: Claim) -> bool:
        """Whether the store at `path` still names `claim` as its owner, with edits maybe only in the log."""
        if not exists(path):
            return False
        environments = self.environments
        was_open = environments.is_open(path)
        with environments.pinned(path) as env, env.env.begin() as txn:
            needed = env.owner_in(txn) == claim and must_replay(env.logged(txn))
        if not was_open:
            environments.make_least_recent(path)
        return needed
