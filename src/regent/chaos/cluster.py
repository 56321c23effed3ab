"""The chaos monkey's hands: signals to a `regent local` cluster's daemons, restarts through its
supervisor (regent.local_state), and the Admin SDK for region and schema actions. Every method returns an
Outcome (never raises for what the cluster does), waits on conditions with deadlines, and gives up in
bounded time.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from client.connection import Connection
from client.errors import RegentError, RegionInTransition, TableLocked
from meta.states import RegionState
from regent import local_state
from regent.chaos.actions import Outcome
from regent.chaos.admin_actions import refused, serving_regions

T = TypeVar("T")

#: How long the supervisor may take to notice an exit or carry out a restart request (it looks every
#: 0.2 s), and a restarted RegionServer to register with the master.
EXIT_SEEN_S = 10.0
RESTART_S = 30.0
#: How long a master failover may take before the kill counts as failed (the new master waits a startup
#: grace for the RegionServers first).
FAILOVER_S = 60.0
#: Deadline of a move or a family change (a rolling reopen of the table).
REGION_ACTION_S = 60.0
POLL_S = 0.05


def _failed(exc: BaseException) -> Outcome:
    return Outcome(False, {"error": type(exc).__name__, "message": " ".join(str(exc).split())[:500]})


class ChaosCluster:
    """The cluster a chaos run acts on: `connection` to its masters, `rootdir` of its `regent local` (None:
    a cluster whose processes the monkey does not control), `table` the table region and schema actions
    act on. `stop` ends waits early (Ctrl-C)."""

    def __init__(
        self, connection: Connection, rootdir: Path | None, table: str, stop: threading.Event | None = None
    ) -> None:
        self.connection = connection
        self.admin = connection.admin()
        self.rootdir = rootdir
        self.table = table
        self.stop = stop or threading.Event()
        self._paused: set[int] = set()
        #: host:port of a server the monkey decommissioned -> the regions it held then (to move back).
        self.offloaded: dict[str, list[int]] = {}

    # ---- waiting ----

    def _wait(self, predicate: Callable[[], T | None], timeout: float) -> T | None:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline or self.stop.wait(POLL_S):
                return None

    def state(self) -> local_state.LocalState:
        if self.rootdir is None:
            raise local_state.LocalStateError("this cluster's processes are not the monkey's to control")
        return local_state.read_state(self.rootdir)

    def daemon(self, target: str) -> local_state.DaemonRecord:
        """The daemon a target names: "regionserver #i" (the i-th RegionServer of local.json, as the
        model names them, so that a plan is the same on any cluster of that shape) or a daemon's name."""
        state = self.state()
        match = re.fullmatch(r"regionserver #(\d+)", target)
        if match is None:
            return state.daemon(target)
        servers = state.of_role("regionserver")
        index = int(match.group(1))
        if index >= len(servers):
            raise local_state.LocalStateError(f"{target}: the cluster has {len(servers)} RegionServers")
        return servers[index]

    def _record(self, name: str) -> local_state.DaemonRecord | None:
        try:
            return self.state().daemon(name)
        except local_state.LocalStateError:
            return None

    def _exit_seen(self, name: str, pid: int) -> bool:
        record = self._record(name)
        return record is not None and (record.pid != pid or not record.running)

    # ---- processes ----

    def kill(self, name: str) -> Outcome:
        """SIGKILL daemon `name`; wait until its supervisor has seen it exit."""
        try:
            record = self.daemon(name)
        except local_state.LocalStateError as exc:
            return _failed(exc)
        if not record.running:
            return Outcome(False, {"error": "NotRunning", "message": f"{record.name} had already exited"})
        try:
            os.kill(record.pid, signal.SIGKILL)
        except ProcessLookupError as exc:
            return _failed(exc)
        seen = self._wait(lambda: self._exit_seen(record.name, record.pid), EXIT_SEEN_S)
        detail: dict[str, Any] = {"name": record.name, "pid": record.pid, "address": record.address}
        if not seen:
            return Outcome(False, {**detail, "error": "ExitNotSeen", "message": "the supervisor did not say"})
        return Outcome(True, detail)

    def pause(self, name: str, hold_s: float) -> Outcome:
        """SIGSTOP daemon `name`, wait `hold_s` (less if the run is stopped), SIGCONT it; then see it
        through (_after_resume)."""
        try:
            record = self.daemon(name)
        except local_state.LocalStateError as exc:
            return _failed(exc)
        if not record.running:
            return Outcome(False, {"error": "NotRunning", "message": f"{record.name} had exited"})
        started = time.monotonic()
        try:
            os.kill(record.pid, signal.SIGSTOP)
            self._paused.add(record.pid)
            self.stop.wait(hold_s)
        except ProcessLookupError as exc:
            return _failed(exc)
        finally:
            self._resume(record.pid)
        resumed_at = time.monotonic()
        detail: dict[str, Any] = {"name": record.name, "pid": record.pid, "address": record.address}
        detail["held_s"] = round(resumed_at - started, 3)
        if record.role != "regionserver":
            return Outcome(True, detail)
        return self._after_resume(record, resumed_at, detail)

    def _after_resume(
        self, record: local_state.DaemonRecord, resumed_at: float, detail: dict[str, Any]
    ) -> Outcome:
        """A RegionServer paused past its lease was declared dead: on resuming it learns so and exits (as
        HBase's does on YouAreDeadException). Wait until either the master has acknowledged a heartbeat
        of it sent after the resume (it lives on), or it has exited: then restart it, so that the pause
        leaves the cluster as the model has it (every server running)."""

        def settled() -> str | None:
            now = self._record(record.name)
            if now is not None and (now.pid != record.pid or not now.running):
                return "exited"
            since = time.monotonic() - resumed_at
            try:
                status = self.admin.cluster_status(timeout=5.0)
            except RegentError:
                return None
            for live in status.servers:
                if live.server.address == record.address and live.last_heartbeat_age_ms / 1000 < since:
                    return "heartbeat"
            return None

        how = self._wait(settled, RESTART_S)
        if how is None:
            return Outcome(
                False, {**detail, "error": "NotSettled", "message": "neither a heartbeat nor an exit"}
            )
        if how == "heartbeat":
            return Outcome(True, {**detail, "after_resume": "lives on"})
        restarted = self.restart(record.name)
        detail.update(after_resume="declared dead, exited; restarted", restart=restarted.detail)
        return Outcome(restarted.ok, detail)

    def _resume(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        self._paused.discard(pid)

    def resume_all(self) -> None:
        """SIGCONT every daemon this monkey paused and has not resumed (an interrupted run)."""
        for pid in list(self._paused):
            self._resume(pid)

    def active_master(self) -> str | None:
        try:
            self.admin.cluster_status(timeout=10.0)
        except RegentError:
            return None
        return self.connection.active_master

    def kill_active_master(self) -> Outcome:
        """SIGKILL the active master; wait until another master is active."""
        try:
            state = self.state()
        except local_state.LocalStateError as exc:
            return _failed(exc)
        address = self.active_master()
        target = next((m for m in state.of_role("master") if m.address == address and m.running), None)
        if target is None:
            return Outcome(False, {"error": "NoActiveMaster", "message": f"active master: {address}"})
        others = [m for m in state.of_role("master") if m.running and m is not target]
        if not others:
            return Outcome(False, {"error": "NoBackup", "message": "no other master runs to take over"})
        os.kill(target.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        detail: dict[str, Any] = {"killed": target.name, "pid": target.pid, "address": target.address}
        self._wait(lambda: self._exit_seen(target.name, target.pid), EXIT_SEEN_S)

        def new_active() -> str | None:
            found = self.active_master()
            return found if found and found != target.address else None

        found = self._wait(new_active, FAILOVER_S)
        if found is None:
            return Outcome(False, {**detail, "error": "NoFailover", "message": "no new active master"})
        return Outcome(
            True, {**detail, "new_active": found, "failover_s": round(time.monotonic() - killed_at, 3)}
        )

    def restart(self, target: str) -> Outcome:
        """Ask the supervisor to start `target` again ("master": the first exited master); wait until it
        runs, and for a RegionServer until the master lists a new incarnation of it as live."""
        try:
            state = self.state()
            if target == "master":
                exited = [m for m in state.of_role("master") if not m.running]
                if not exited:
                    return Outcome(False, {"error": "NotKilled", "message": "every master runs"})
                record = exited[0]
            else:
                record = self.daemon(target)
        except local_state.LocalStateError as exc:
            return _failed(exc)
        if record.running:
            return Outcome(False, {"error": "NotKilled", "message": f"{record.name} runs (pid {record.pid})"})
        before = self._live_at(record.address) if record.role == "regionserver" else set()
        started = time.monotonic()
        assert self.rootdir is not None
        local_state.request_restart(self.rootdir, record.name)

        def running() -> local_state.DaemonRecord | None:
            now = self._record(record.name)
            return now if now is not None and now.incarnation > record.incarnation and now.running else None

        new = self._wait(running, RESTART_S)
        if new is None:
            return Outcome(False, {"name": record.name, "error": "NotRestarted", "message": "no new process"})
        detail: dict[str, Any] = {"name": record.name, "pid": new.pid, "incarnation": new.incarnation}
        if record.role == "regionserver":
            live = self._wait(lambda: self._live_at(record.address) - before, RESTART_S)
            if not live:
                return Outcome(
                    False, {**detail, "error": "NotLive", "message": "the master does not list it"}
                )
            detail["server"] = str(min(live))
        return Outcome(True, {**detail, "took_s": round(time.monotonic() - started, 3)})

    def _live_at(self, address: str) -> set[str]:
        """The incarnations (host:port:startcode) the master lists as live at `address`."""
        try:
            status = self.admin.cluster_status(timeout=5.0)
        except RegentError:
            return set()
        return {str(s.server) for s in status.servers if s.server.address == address}

    # ---- regions and schema ----

    def move(self, region_index: int, to: str | None) -> Outcome:
        """Move region #`region_index` (key order, serving regions only) of the table to daemon `to`
        (None, or the server it is on already: the master's choice). A region in transition (or a table
        procedure holding the table) is skipped: the master rightly refuses to move it now."""
        detail: dict[str, Any] = {}
        try:
            regions = serving_regions(self.admin, self.table, timeout=REGION_ACTION_S)
            if not regions:
                return Outcome(False, {"error": "NoRegions", "message": f"table {self.table} has none"})
            location = regions[region_index % len(regions)]
            destination = None
            if to is not None:
                destination = self.daemon(to).address
            if location.server is not None and location.server.address == destination:
                destination = None  # it is there already: let the master choose another server
            detail["region_id"] = location.region_id
            detail["from"] = str(location.server) if location.server else None
            detail["to"] = destination
            self.admin.move(location.region_id, destination, timeout=REGION_ACTION_S)
            after = self.admin.get_region(location.region_id, timeout=REGION_ACTION_S)
        except (RegionInTransition, TableLocked) as exc:
            return refused(exc, detail)
        except (RegentError, ValueError, local_state.LocalStateError) as exc:
            return _failed(exc)
        return Outcome(True, {**detail, "state": after.state.name, "now_on": str(after.server)})

    def schema(self, operation: str, family: str, **settings: int) -> Outcome:
        """add_family, modify_family or delete_family on the table (waits for the rolling reopen)."""
        started = time.monotonic()
        try:
            getattr(self.admin, operation)(self.table, family, **settings, timeout=REGION_ACTION_S)
        except (RegentError, ValueError) as exc:
            return _failed(exc)
        return Outcome(True, {"took_s": round(time.monotonic() - started, 3)})

    # ---- the end ----

    def convergence_problem(self) -> str | None:
        """Why the cluster has not converged yet (None once it has): every region of every table OPEN
        (but the parents splits and merges retired) with no procedure on a live server, nothing in
        transition, and (on a local cluster) every RegionServer that runs listed live by the master."""
        try:
            status = self.admin.cluster_status(timeout=10.0)
            live = {str(s.server) for s in status.servers}
            if status.regions_in_transition:
                first = status.regions_in_transition[0]
                return f"{len(status.regions_in_transition)} regions in transition (first {first.region_id})"
            for table in self.admin.list_tables(timeout=10.0):
                for loc in serving_regions(self.admin, table.name, timeout=10.0):
                    if table.enabled and (
                        loc.state is not RegionState.OPEN or loc.proc_id or str(loc.server) not in live
                    ):
                        return f"region {loc.region_id} of {table.name} is {loc.state.name} on {loc.server}"
            if self.rootdir is not None:
                running = {d.address for d in self.state().of_role("regionserver") if d.running}
                listed = {s.server.address for s in status.servers}
                if running != listed:
                    return f"RegionServers running {sorted(running)}, live for the master {sorted(listed)}"
        except (RegentError, local_state.LocalStateError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def wait_converged(self, timeout: float) -> tuple[bool, float, str | None]:
        """Wait until convergence_problem() is None: (converged, seconds waited, the last problem)."""
        started = time.monotonic()
        last: list[str | None] = [None]

        def done() -> bool:
            last[0] = self.convergence_problem()
            return last[0] is None

        ok = bool(self._wait(done, timeout))
        return ok, round(time.monotonic() - started, 3), last[0]


__all__ = ["ChaosCluster"]
