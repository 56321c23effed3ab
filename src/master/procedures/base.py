"""What every procedure is: a kind with named steps that decide without I/O, and what a step decides.

A step reads the master's state through `Env` (the catalog and the assignment core), changes the in-memory
state it owns, and returns an `Outcome`: region transitions to start (Effects), other meta rows to write, the
next step, and the regions that must settle before that step may run. The executor carries the outcome out:
it removes files first (idempotent), then commits the procedure's new record *in the same transaction* as
the rows, then sends the orders. A master that dies at any point resumes from the last committed step, so
every step must be safe to run again from the state meta holds.
"""

from __future__ import annotations

import enum
import itertools
import operator
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from master import story
from master.assignment import AssignmentManager, Effects
from master.catalog import Catalog
from master.regions import RegionNode
from meta import RegionState, WriteBatch
from meta.references import Reference
from regent.proto import meta_pb2

_PROC_ID = operator.attrgetter("proc_id")
_IN_FLIGHT = frozenset({RegionState.CLOSING, RegionState.OPENING})


class ProcState(enum.IntEnum):
    """Numbers are stored in meta (ProcedureStateCode in protos/regent/proto/meta.proto)."""

    RUNNABLE = 0
    SUCCESS = 1
    FAILED = 2
    ROLLED_BACK = 3


@dataclass(slots=True)
class Env:
    """What a step may look at and change: the master's in-memory state, never a socket or a file."""

    catalog: Catalog
    am: AssignmentManager
    rootdir: Path
    reopen_share: float = 0.2  # modify_table: at most this share of a table's regions closed at once

    def new_proc_id(self) -> int:
        """Procedure ids are one sequence for region transitions and every other kind."""
        proc_id = self.am.next_proc_id
        self.am.next_proc_id += 1
        return proc_id

    def settled(self, region_id: int, holder: int = 0) -> bool:
        """No procedure is attached to the region and it does not wait for a server (or it is gone).

        For `holder`, the procedure asking: a region that procedure holds itself (a split or merge parent,
        attached to it all along) is settled for it once no order is in flight (not CLOSING or OPENING).
        Table-wide waits (first_unsettled) never take this path: a held region stays busy for them.
        """
        node = self.am.regions.get(region_id)
        if node is None:
            return True
        if not node.proc_id:
            return region_id not in self.am.waiting
        return node.proc_id == holder and holder != 0 and node.state not in _IN_FLIGHT

    def first_unsettled(self, nodes: Sequence[RegionNode], start: int = 0) -> int:
        """The index of the first node from `start` that is not settled, len(nodes) if none is.

        How a procedure waits for a whole table: called at every commit of region rows while it waits,
        with `start` where the last call stopped. That region is usually still busy, so a call costs O(1)
        and the wait costs each region one look in all; a scan from the start (a step checking its whole
        table) runs at C speed.
        """
        end = len(nodes)
        if start >= end:
            return end
        if start == 0:
            busy = next(itertools.compress(itertools.count(), map(_PROC_ID, nodes)), end)
        else:
            busy = start
            while busy < end and not nodes[busy].proc_id:
                busy += 1
        waiting = self.am.waiting
        if waiting:  # rare (no server live): regions waiting for one have no procedure attached
            for i in range(start, busy):
                if nodes[i].region_id in waiting:
                    return i
        return busy


@dataclass(slots=True)
class Outcome:
    """What one step decided. `next` None ends the procedure (SUCCESS, or ROLLED_BACK when rolling back);
    the same step name again means "not yet": it runs again once the regions in `wait` have settled (all
    of them, or with `wake_on_any` as soon as one has), or with `settle_table` once every region of the
    procedure's table has (checked with a cursor, so that waiting for a million regions costs each of
    them one look). Nothing to write and the same step: no commit."""

    next: str | None
    effects: Effects = field(default_factory=Effects)
    batch: WriteBatch = field(default_factory=WriteBatch)
    wait: Collection[int] = ()
    wake_on_any: bool = False
    settle_table: bool = False
    remove: list[Path] = field(default_factory=list)  # directories removed before the commit
    #: REFERENCES files (meta.references) written before the commit: store directory -> its references
    write_references: dict[Path, list[Reference]] = field(default_factory=dict)
    done: int | None = None  # progress, of `total`
    total: int | None = None


class Procedure:
    """A kind of procedure. Subclasses name their steps (methods `step_<name>`) and keep their own state in
    `data` (a protobuf message of the kind's), which is persisted with every step.

    `ROLLBACK` maps the steps past the first from which an abort can still roll back to the step the
    rollback starts from; every other step is past the point of no return. A procedure still in its
    first step has changed nothing: an abort just ends it ROLLED_BACK.
    """

    KIND: ClassVar[str]
    FIRST: ClassVar[str] = "prepare"
    ROLLBACK: ClassVar[dict[str, str]] = {}
    STEPS: ClassVar[dict[str, str]]  # step name -> what it does, for people (list_procedures)

    def __init__(self, proc_id: int, table: str, data: Any) -> None:
        self.proc_id = proc_id
        self.table = table  # the table it locks; "" for none
        self.data = data
        self.step = self.FIRST
        self.state = ProcState.RUNNABLE
        self.rolling_back = False
        self.error_code = ""
        self.error_message = ""
        self.submitted_ms = int(time.time() * 1000)
        self.updated_ms = self.submitted_ms
        self.finished_ms = 0
        self.nonce = ""  # the submitting request's, if it carried one
        self.done = 0
        self.total = 0

    # ---- the kind's own parts ----

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        """Refuse the request now (a RequestError) if it cannot succeed as things stand. Runs at submission
        (`ahead`: the unfinished procedures queued on the same table) and again when the procedure takes
        its lock (nothing ahead); must not change anything."""

    def encode_payload(self) -> bytes:
        raw: bytes = self.data.SerializeToString()
        return raw

    @classmethod
    def from_record(cls, record: meta_pb2.ProcedureRecord) -> Procedure:
        """The procedure a record describes, as it was at its last committed step."""
        proc = cls(record.proc_id, record.table, cls.decode_payload(record.payload))
        proc.restore(record)
        return proc

    @classmethod
    def decode_payload(cls, raw: bytes) -> Any:
        return meta_pb2.TableProcedureData.FromString(raw)

    def progress(self) -> tuple[int, int]:
        return self.done, self.total

    def story_cause(self) -> str:
        """The cause (master.story) of the region transitions its steps commit."""
        return story.cause_of_procedure(self.KIND)

    def describe_step(self) -> str:
        what = self.STEPS.get(self.step, self.step)
        return f"rolling back: {what}" if self.rolling_back else what

    # ---- used by the executor ----

    def run(self, env: Env) -> Outcome:
        method = getattr(self, f"step_{self.step}", None)
        if method is None:
            raise RuntimeError(f"procedure {self.proc_id} ({self.KIND}) has no step {self.step!r}")
        outcome: Outcome = method(env)
        return outcome

    @property
    def finished(self) -> bool:
        return self.state is not ProcState.RUNNABLE

    def abortable(self) -> bool:
        if self.finished or self.rolling_back:
            return False
        return self.step == self.FIRST or self.step in self.ROLLBACK

    def record(self) -> meta_pb2.ProcedureRecord:
        return meta_pb2.ProcedureRecord(
            proc_id=self.proc_id,
            kind=self.KIND,
            step=self.step,
            submitted_ms=self.submitted_ms,
            updated_ms=self.updated_ms,
            payload=self.encode_payload(),
            state=int(self.state),  # type: ignore[arg-type]
            table=self.table,
            error_code=self.error_code,
            error_message=self.error_message,
            finished_ms=self.finished_ms,
            rolling_back=self.rolling_back,
            nonce=self.nonce,
        )

    def restore(self, record: meta_pb2.ProcedureRecord) -> None:
        self.step = record.step
        self.state = ProcState(record.state)
        self.rolling_back = record.rolling_back
        self.error_code = record.error_code
        self.error_message = record.error_message
        self.submitted_ms = record.submitted_ms
        self.updated_ms = record.updated_ms
        self.finished_ms = record.finished_ms
        self.nonce = record.nonce
        self.total = getattr(self.data, "total", 0)
        if self.finished:
            self.done = self.total

    def __repr__(self) -> str:
        return f"<{self.KIND} {self.proc_id} {self.table or '-'} {self.step} {self.state.name}>"
