"""A handle on a table procedure the master runs: ask how far it is, wait for its end, abort it.

Every DDL call (create, delete, truncate, enable, disable, modify a table or a family) is answered at
once with a procedure id; the work happens in the master, durably, and survives a master failover. A
call made with wait=True waits here; with wait=False it returns the ProcedureHandle and the caller decides
when to wait, or never does:

    handle = admin.disable_table("t1", wait=False)
    while not handle.done():
        done, total = handle.progress()
        ...
    handle.wait(timeout=60)          # SUCCESS returns; FAILED or ROLLED_BACK raises the named error

The master keeps a finished procedure's outcome for 10 minutes, so `wait` learns it even when it starts
late or a failover happens in between; after that the id is unknown (ProcedureNotFound).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from client.errors import ProcedureTimeout, procedure_error
from client.types import AbortResult, Procedure, procedure_from_proto
from regent.proto import master_pb2

if TYPE_CHECKING:
    from client.connection import Connection

#: Polling of a procedure's end: quick at first (a small table's DDL finishes in tens of ms), then at a
#: pace that keeps a progress bar live without hammering the master during a long one.
POLL_START_S = 0.02
POLL_CAP_S = 0.25
#: The least time one poll gets to be answered, even when the wait's deadline is nearer: a wait that is
#: about to time out should end with ProcedureTimeout and the last state seen, not with MasterUnavailable.
POLL_CALL_MIN_S = 1.0


def get_procedure(connection: Connection, proc_id: int, timeout: float | None = None) -> Procedure:
    """GetProcedure: the procedure's state and progress; ProcedureNotFound if the master has none."""
    check_proc_id(proc_id)
    response: master_pb2.ProcedureInfo = connection._call(
        "GetProcedure", master_pb2.ProcedureRequest(proc_id=proc_id), timeout
    )
    return procedure_from_proto(response)


def abort_procedure(connection: Connection, proc_id: int, timeout: float | None = None) -> AbortResult:
    """AbortProcedure: ask the master to roll procedure `proc_id` back (see AbortResult)."""
    check_proc_id(proc_id)
    response: master_pb2.AbortProcedureResponse = connection._call(
        "AbortProcedure", master_pb2.ProcedureRequest(proc_id=proc_id), timeout
    )
    return AbortResult(proc_id, response.rolled_back, response.message)


def check_proc_id(proc_id: int) -> None:
    if isinstance(proc_id, bool) or not isinstance(proc_id, int) or not 1 <= proc_id < 2**64:
        raise ValueError(f"a procedure id is a whole number 1..2**64-1, got {proc_id!r}")


class ProcedureHandle:
    """A table procedure submitted to the master, by id. Cheap: it holds the connection and the id only.

    `kind` and `table` say what was submitted (create_table of "t1", ...); `regions` is the number of
    regions a create_table creates (None for the other kinds). Every method takes a `timeout` (default:
    the connection's) and may raise what any call raises (MasterUnavailable, ...).
    """

    def __init__(
        self,
        connection: Connection,
        proc_id: int,
        *,
        kind: str = "",
        table: str | None = None,
        regions: int | None = None,
    ) -> None:
        self._conn = connection
        self.proc_id = proc_id
        self.kind = kind
        self.table = table
        self.regions = regions

    def info(self, *, timeout: float | None = None) -> Procedure:
        """The procedure now: state, step, progress, lock, and its error once it has failed."""
        return get_procedure(self._conn, self.proc_id, timeout)

    def progress(self, *, timeout: float | None = None) -> tuple[int, int]:
        """(done, total): regions done of the regions it works through; total 0 while not known yet."""
        info = self.info(timeout=timeout)
        return info.done, info.total

    def done(self, *, timeout: float | None = None) -> bool:
        """Whether it has ended, whatever the outcome (`wait` says which)."""
        return self.info(timeout=timeout).finished

    def abort(self, *, timeout: float | None = None) -> AbortResult:
        """Ask the master to roll it back. rolled_back=True: `wait` will raise ProcedureAborted (or the
        error it was rolled back for); False: it carries on (or had finished), `message` says which."""
        return abort_procedure(self._conn, self.proc_id, timeout)

    def wait(
        self,
        timeout: float | None = None,
        *,
        on_progress: Callable[[Procedure], None] | None = None,
    ) -> Procedure:
        """Wait until the procedure ends; return its final record when it is SUCCESS.

        FAILED or ROLLED_BACK raise the named error its record carries (TableNotEnabled, ...; see
        client.errors.procedure_error), with `proc_id` set. At the deadline, ProcedureTimeout: the
        procedure goes on in the master, only the wait gave up. `on_progress` is called with every
        record polled, the last one included (the CLI draws its progress bar with it).
        """
        deadline = time.monotonic() + (self._conn.timeout if timeout is None else timeout)
        return wait_for(self._conn, self.proc_id, deadline, on_progress)

    def __repr__(self) -> str:
        what = f" {self.kind}" if self.kind else ""
        of = f" of {self.table!r}" if self.table else ""
        return f"<ProcedureHandle {self.proc_id}{what}{of}>"


def wait_for(
    connection: Connection,
    proc_id: int,
    deadline: float,
    on_progress: Callable[[Procedure], None] | None = None,
) -> Procedure:
    """Poll GetProcedure until procedure `proc_id` has ended or `deadline` (monotonic) passes."""
    interval = POLL_START_S
    last: Procedure | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        last = get_procedure(connection, proc_id, max(remaining, POLL_CALL_MIN_S))
        if on_progress is not None:
            on_progress(last)
        if last.finished:
            return outcome(last)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
        interval = min(interval * 2, POLL_CAP_S)
    seen = (
        f"last seen {last.state} at step {last.step!r}, {last.done} of {last.total} regions done"
        if last is not None
        else "no answer yet"
    )
    raise ProcedureTimeout(
        f"procedure {proc_id} had not finished at the deadline ({seen}); it goes on in the master",
        proc_id=proc_id,
    )


def outcome(info: Procedure) -> Procedure:
    """Return a finished procedure's record if it is SUCCESS; raise its named error otherwise."""
    if info.state == "SUCCESS":
        return info
    what = f"{info.kind} of table {info.table!r}" if info.table else info.kind or "procedure"
    reason = info.error_message or info.error_code or "no reason recorded"
    raise procedure_error(
        info.proc_id,
        info.state,
        info.error_code,
        f"procedure {info.proc_id} ({what}) ended {info.state}: {reason}",
    )


__all__ = ["ProcedureHandle", "abort_procedure", "check_proc_id", "get_procedure", "outcome", "wait_for"]
