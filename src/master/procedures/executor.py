"""The procedure executor: runs every procedure of the active master, one step at a time, in one task.

- A step's outcome is committed (the procedure's new record in the same transaction as the rows it
  changes) before its orders are sent; its file removals and REFERENCES files (split, merge) are carried
  out before that commit, so a step that runs again after a crash does them again (both are idempotent).
- A table procedure runs only while it holds its table: the head of the table's queue, in submission
  order. Lock state is never persisted apart from the records: at takeover it is rebuilt from them.
- A procedure that waits for regions is parked until they settle (woken by `regions_changed`, which the
  master calls after every commit of region rows), then its step runs again.
- Finished procedures keep their record for RETAIN_S, so a client waiting on one learns its outcome even
  across a failover; then they are deleted.

Test-only switch: with REGENT_HALT_AFTER="<kind>:<step>" in its environment, the master kills itself
(SIGKILL) right after the outcome of that step is durable ("<kind>:submitted" after the submission). The
crash tests use it to stop a master at every persisted step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from master import metrics, story
from master.assignment import Effects
from master.errors import ProcedureNotFound, RequestError
from master.procedures.base import Env, Outcome, Procedure, ProcState
from meta import WriteBatch, keys, references
from regent.proto import meta_pb2

log = structlog.get_logger("master.procedures")

RETAIN_S = 600.0  # how long a finished procedure's outcome stays known (HBase's default evicts after 15 min)
PURGE_EVERY_S = 10.0
RETRY_S = 0.5  # a step that could make no progress (a file it could not remove) runs again after this

Apply = Callable[[Effects, WriteBatch], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProcedureView:
    """A procedure as list_procedures and get_procedure show it."""

    proc_id: int
    kind: str
    step: str
    age_s: float
    region_id: int | None
    state: str = "RUNNABLE"
    done: int = 0
    total: int = 0
    table: str = ""
    lock: str = ""
    submitted_age_s: float = 0.0
    error_code: str = ""
    error_message: str = ""
    abortable: bool = False


class Executor:
    def __init__(self, env: Env, apply: Apply, kinds: dict[str, type[Procedure]]) -> None:
        self.env = env
        self._apply = apply
        self._kinds = kinds
        self.procs: dict[int, Procedure] = {}  # every procedure known, finished ones until purged
        self._unfinished: dict[int, Procedure] = {}  # what the run loop looks at (a few, not thousands)
        self._nonces: dict[str, int] = {}  # a request's nonce -> the procedure it submitted (retained ones)
        self._queues: dict[str, deque[int]] = {}
        self._pending: dict[int, set[int]] = {}  # proc id -> regions it waits for
        self._wake_on_any: set[int] = set()
        self._cursors: dict[int, int] = {}  # proc id -> regions of its table seen settled, in key order
        self._wakeup = asyncio.Event()
        self._step_lock = asyncio.Lock()  # steps, aborts and bypasses never interleave
        self._running = False
        self._halt_after = os.environ.get("REGENT_HALT_AFTER", "")

    # ---- takeover ----

    def resume(self, records: Iterable[meta_pb2.ProcedureRecord]) -> list[Procedure]:
        """Re-attach the procedures meta holds (a new active master): unfinished ones queue again on their
        tables in submission (id) order; finished ones are kept for their outcome. Returns the unfinished."""
        unfinished = []
        for record in sorted(records, key=lambda r: r.proc_id):
            kind = self._kinds.get(record.kind)
            if kind is None:
                log.error("procedure_kind_unknown", proc_id=record.proc_id, kind=record.kind)
                continue
            proc = kind.from_record(record)
            self.procs[proc.proc_id] = proc
            if proc.nonce:
                self._nonces[proc.nonce] = proc.proc_id
            if not proc.finished:
                self._unfinished[proc.proc_id] = proc
                unfinished.append(proc)
                if proc.table:
                    self._queues.setdefault(proc.table, deque()).append(proc.proc_id)
        if unfinished:
            log.info("procedures_resumed", count=len(unfinished), kinds=sorted({p.KIND for p in unfinished}))
        return unfinished

    async def run(self) -> None:
        """Run steps until cancelled. Started once the takeover is planned, so that steps decide on a
        settled view of which servers came back."""
        self._running = True
        self._wakeup.set()
        purge = asyncio.get_running_loop().create_task(self._purge_loop(), name="procedure-purge")
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                for proc in self._runnable():
                    async with self._step_lock:
                        if not proc.finished and self._holds_lock(proc):
                            await self._advance(proc)
        finally:
            purge.cancel()

    # ---- submission ----

    async def submit(self, proc: Procedure, extra: WriteBatch | None = None, *, nonce: str = "") -> int:
        """Check `proc` (a refusal raises its RequestError, nothing written), queue it on its table and
        make its record durable (with `extra` rows, in the same transaction) before answering.

        A request that carries a `nonce` already seen (a client retrying after a failover, or after its
        answer was lost) gets the procedure that nonce submitted, whatever became of it: not a second one.
        """
        if nonce and (known := self._nonces.get(nonce)) is not None and known in self.procs:
            log.info("procedure_submission_repeated", proc_id=known, kind=self.procs[known].KIND)
            return known
        ahead = self.queued(proc.table) if proc.table else []
        proc.check(self.env, ahead)
        proc.nonce = nonce
        self.procs[proc.proc_id] = proc
        self._unfinished[proc.proc_id] = proc
        if nonce:
            self._nonces[nonce] = proc.proc_id
        if proc.table:
            self._queues.setdefault(proc.table, deque()).append(proc.proc_id)
        batch = extra or WriteBatch()
        batch.put("procedures", keys.u64(proc.proc_id), proc.record().SerializeToString())
        try:
            await self._apply(Effects(), batch)
        except BaseException:
            self._forget(proc)
            raise
        log.info("procedure_submitted", proc_id=proc.proc_id, kind=proc.KIND, table=proc.table or None)
        self._halt_check(proc, "submitted")
        self._wakeup.set()
        return proc.proc_id

    def regions_changed(self) -> None:
        """Region rows were committed: procedures waiting for regions may be able to go on."""
        if self._pending or self._cursors:
            self._wakeup.set()

    # ---- running ----

    def _holds_lock(self, proc: Procedure) -> bool:
        if not proc.table:
            return True
        queue = self._queues.get(proc.table)
        return queue is not None and bool(queue) and queue[0] == proc.proc_id

    def _runnable(self) -> list[Procedure]:
        ready = []
        for proc in list(self._unfinished.values()):
            if proc.finished or not self._holds_lock(proc):
                continue
            cursor = self._cursors.get(proc.proc_id)
            if cursor is not None:
                table_nodes = self.env.catalog.regions.table(proc.table)
                cursor = self.env.first_unsettled(table_nodes, cursor)
                if cursor < len(table_nodes):
                    self._cursors[proc.proc_id] = cursor
                    proc.done = max(proc.done, cursor)
                    continue
                del self._cursors[proc.proc_id]
            pending = self._pending.get(proc.proc_id)
            if pending:
                left = {r for r in pending if not self.env.settled(r, proc.proc_id)}
                if left and (len(left) == len(pending) or proc.proc_id not in self._wake_on_any):
                    self._pending[proc.proc_id] = left
                    proc.done = max(0, proc.total - len(left)) if proc.total else proc.done
                    continue
                self._pending.pop(proc.proc_id, None)
            ready.append(proc)
        return ready

    async def _advance(self, proc: Procedure) -> None:
        story.caused_by(proc.story_cause())  # the cause of the transitions it commits
        env, before = self.env, proc.step
        starting = before == proc.FIRST and not proc.rolling_back
        try:
            if starting:
                proc.check(env, ())
            outcome = proc.run(env)
        except RequestError as exc:  # its preconditions no longer hold: it ends, having changed nothing
            await self._finish(proc, ProcState.FAILED, exc.code, str(exc))
            return
        for path in outcome.remove:
            try:
                await asyncio.to_thread(_remove_tree, path)
            except OSError as exc:
                log.warning("procedure_remove_failed", proc_id=proc.proc_id, path=str(path), error=str(exc))
                asyncio.get_running_loop().call_later(RETRY_S, self._wakeup.set)
                return
        for store_dir, refs in outcome.write_references.items():
            try:
                await asyncio.to_thread(references.write, store_dir, refs)
            except OSError as exc:
                log.warning(
                    "procedure_write_failed", proc_id=proc.proc_id, path=str(store_dir), error=str(exc)
                )
                asyncio.get_running_loop().call_later(RETRY_S, self._wakeup.set)
                return
        if outcome.total is not None:
            proc.total = outcome.total
            if hasattr(proc.data, "total"):
                proc.data.total = outcome.total
        if outcome.done is not None:
            proc.done = outcome.done
        if outcome.next is None:
            if proc.rolling_back:
                await self._finish(proc, ProcState.ROLLED_BACK, "Aborted", "aborted by an operator", outcome)
            else:
                await self._finish(proc, ProcState.SUCCESS, "", "", outcome)
            return
        proc.step = outcome.next
        if outcome.effects or outcome.batch.ops or proc.step != before:
            await self._commit(proc, outcome.effects, outcome.batch)
            self._halt_check(proc, before)
            if proc.step != before:
                log.info("procedure_stepped", proc_id=proc.proc_id, kind=proc.KIND, step=proc.step)
        waiting = {r for r in outcome.wait if not env.settled(r, proc.proc_id)}
        if outcome.settle_table:
            self._cursors[proc.proc_id] = 0
            self._wakeup.set()
        elif waiting:
            self._pending[proc.proc_id] = waiting
            if outcome.wake_on_any:
                self._wake_on_any.add(proc.proc_id)
            else:
                self._wake_on_any.discard(proc.proc_id)
        elif proc.step == before and not (outcome.effects or outcome.batch.ops):
            asyncio.get_running_loop().call_later(RETRY_S, self._wakeup.set)  # nothing moved: not a spin
        else:
            self._wakeup.set()

    async def _commit(self, proc: Procedure, effects: Effects, batch: WriteBatch) -> None:
        proc.updated_ms = int(time.time() * 1000)
        batch.put("procedures", keys.u64(proc.proc_id), proc.record().SerializeToString())
        await self._apply(effects, batch)

    async def _finish(
        self, proc: Procedure, state: ProcState, code: str, message: str, outcome: Outcome | None = None
    ) -> None:
        step = proc.step
        proc.state, proc.error_code, proc.error_message = state, code, message
        proc.finished_ms = int(time.time() * 1000)
        if state is ProcState.SUCCESS:
            proc.done = proc.total
        effects, batch = (
            (outcome.effects, outcome.batch) if outcome is not None else (Effects(), WriteBatch())
        )
        self._release(proc)
        await self._commit(proc, effects, batch)
        self._halt_check(proc, step)
        metrics.procedure_finished(proc.KIND, state.name, (proc.finished_ms - proc.submitted_ms) / 1000)
        log.info(
            "procedure_finished",
            proc_id=proc.proc_id,
            kind=proc.KIND,
            table=proc.table or None,
            state=state.name,
            error=message or None,
            ms=proc.finished_ms - proc.submitted_ms,
        )

    def _release(self, proc: Procedure) -> None:
        self._unfinished.pop(proc.proc_id, None)
        self._pending.pop(proc.proc_id, None)
        self._cursors.pop(proc.proc_id, None)
        self._wake_on_any.discard(proc.proc_id)
        queue = self._queues.get(proc.table)
        if queue is not None:
            if proc.proc_id in queue:
                queue.remove(proc.proc_id)
            if not queue:
                del self._queues[proc.table]
        self._wakeup.set()

    def _forget(self, proc: Procedure) -> None:
        self._release(proc)
        self.procs.pop(proc.proc_id, None)
        self._nonces.pop(proc.nonce, None)

    def _halt_check(self, proc: Procedure, step: str) -> None:
        if self._halt_after and self._halt_after == f"{proc.KIND}:{step}":
            log.warning("halting_for_test", proc_id=proc.proc_id, kind=proc.KIND, step=step)
            os.kill(os.getpid(), signal.SIGKILL)

    def complete(self, procs: Iterable[Procedure]) -> WriteBatch:
        """Mark `procs` done now and return their records to commit with the rows that did their work (a
        master taking over recovers every dead server's regions in its first batch)."""
        batch = WriteBatch()
        now = int(time.time() * 1000)
        for proc in procs:
            proc.state, proc.finished_ms, proc.updated_ms = ProcState.SUCCESS, now, now
            proc.done = proc.total
            self._release(proc)
            batch.put("procedures", keys.u64(proc.proc_id), proc.record().SerializeToString())
        return batch

    # ---- operators ----

    async def abort(self, proc_id: int) -> tuple[bool, str]:
        """Roll procedure `proc_id` back if it has not passed its point of no return. Returns whether it
        will end ROLLED_BACK, and what happened."""
        async with self._step_lock:
            proc = self._get(proc_id)
            if proc.finished:
                return False, f"procedure {proc_id} ({proc.KIND}) has already finished: {proc.state.name}"
            if proc.rolling_back:
                return True, f"procedure {proc_id} ({proc.KIND}) is already rolling back"
            if not proc.abortable():
                return False, (
                    f"procedure {proc_id} ({proc.KIND}) has passed its point of no return (step "
                    f"{proc.step!r}: {proc.describe_step()}); it carries on to the end"
                )
            if proc.step == proc.FIRST:
                await self._finish(
                    proc, ProcState.ROLLED_BACK, "Aborted", "aborted by an operator before it ran"
                )
                return True, f"procedure {proc_id} ({proc.KIND}) had changed nothing: ended ROLLED_BACK"
            was = proc.step
            proc.rolling_back = True
            proc.step = proc.ROLLBACK[was]
            self._pending.pop(proc_id, None)
            self._cursors.pop(proc_id, None)
            await self._commit(proc, Effects(), WriteBatch())
            self._wakeup.set()
            log.warning("procedure_rolling_back", proc_id=proc_id, kind=proc.KIND, step=was)
            return True, f"procedure {proc_id} ({proc.KIND}) is rolling back from step {was!r}"

    async def bypass(self, proc_id: int) -> bool:
        """End procedure `proc_id` now, whatever it was doing (HBCK2's bypass); False if it is not one of
        the executor's (a region transition's procedure lives in its region's row)."""
        async with self._step_lock:
            proc = self.procs.get(proc_id)
            if proc is None or proc.finished:
                return False
            await self._finish(
                proc, ProcState.FAILED, "Bypassed", f"bypassed by an operator at step {proc.step!r}"
            )
            return True

    def _get(self, proc_id: int) -> Procedure:
        proc = self.procs.get(proc_id)
        if proc is None:
            raise ProcedureNotFound(
                f"no procedure {proc_id} is known: never submitted, or finished more than {RETAIN_S:g}s ago"
            )
        return proc

    # ---- queries ----

    def holder(self, table: str) -> Procedure | None:
        """The procedure holding `table`'s lock, if any."""
        queue = self._queues.get(table)
        return self.procs[queue[0]] if queue is not None and queue else None

    def queued(self, table: str) -> list[Procedure]:
        return [self.procs[i] for i in self._queues.get(table, ())]

    def running(self, kind: type[Procedure]) -> list[Procedure]:
        return [p for p in self._unfinished.values() if isinstance(p, kind)]

    def view(self, proc: Procedure, now_ms: int) -> ProcedureView:
        lock = ""
        state = proc.state.name
        if proc.table and not proc.finished:
            holder = self.holder(proc.table)
            if holder is proc:
                lock = f"holds table {proc.table}"
            else:
                state = "WAITING"
                held_by = f" (held by procedure {holder.proc_id}, {holder.KIND})" if holder else ""
                lock = f"waits for table {proc.table}{held_by}"
        done, total = proc.progress()
        return ProcedureView(
            proc_id=proc.proc_id,
            kind=proc.KIND,
            step=proc.describe_step() if not proc.finished else proc.state.name.lower(),
            age_s=max(0.0, (now_ms - proc.updated_ms) / 1000),
            region_id=None,
            state=state,
            done=done,
            total=total,
            table=proc.table,
            lock=lock,
            submitted_age_s=max(0.0, (now_ms - proc.submitted_ms) / 1000),
            error_code=proc.error_code,
            error_message=proc.error_message,
            abortable=proc.abortable(),
        )

    def views(self) -> list[ProcedureView]:
        """Unfinished procedures first (by id), then the finished ones still retained (newest first)."""
        now_ms = int(time.time() * 1000)
        procs = sorted(
            self.procs.values(), key=lambda p: (p.finished, -p.proc_id if p.finished else p.proc_id)
        )
        return [self.view(p, now_ms) for p in procs]

    def get(self, proc_id: int) -> ProcedureView | None:
        proc = self.procs.get(proc_id)
        return self.view(proc, int(time.time() * 1000)) if proc is not None else None

    # ---- retention ----

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_EVERY_S)
            await self.purge(time.time())

    async def purge(self, now: float) -> int:
        """Delete the records of procedures finished more than RETAIN_S ago."""
        cutoff = int((now - RETAIN_S) * 1000)
        old = [p for p in self.procs.values() if p.finished and p.finished_ms < cutoff]
        if not old:
            return 0
        batch = WriteBatch()
        for proc in old:
            batch.delete("procedures", keys.u64(proc.proc_id))
            del self.procs[proc.proc_id]
            self._nonces.pop(proc.nonce, None)
        await self._apply(Effects(), batch)
        return len(old)


def _remove_tree(path: Path) -> None:
    """Remove a directory tree; one that is already gone is removed (a step that runs again)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)
