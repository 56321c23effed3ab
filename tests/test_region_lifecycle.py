"""The region lifecycle as a hypothesis state machine, against the real MetaStore and MetaWriter (real LMDB).

The test plays the master: it keeps its in-memory view of the regions (RegionStateRow, the state moved only by
meta.states.transition), persists every change through the single writer and waits for the acknowledgement.
Rules: legal transitions and illegal ones, both drawn from the answer key written from DESIGN
(tests/transition_key.py), never from the code's own table (legal ones must be accepted, illegal ones refused
with nothing changed), splits and merges
(several rows in one batch), refused writes, and crashes (the writer is abandoned with a write still queued,
the environment closed, meta reopened from disk and memory rebuilt from it, as a new master would).

Invariants after every step: meta, decoded row by row, equals the in-memory view, and both equal the model of
what was acknowledged; and every change of state meta shows between two steps is an edge of the answer key
(a region is born in a birth state). (A crash of the process itself, SIGKILL in the middle of a commit, is
tests/test_meta_crash.py's job.)
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from meta import IllegalTransition, MetaStore, MetaWriteError, MetaWriter, WriteBatch
from meta.codec import RegionStateRow, decode_region_state, encode_region_state
from meta.keys import from_u64, u64
from meta.states import RegionState, transition
from meta.types import ServerName, TransitKind
from tests.hypothesis_profiles import examples
from tests.transition_key import BORN, LEGAL, targets

S = RegionState
MAX_REGIONS = 12
SERVERS = (
    ServerName("rs-a.example.com", 16020, 1_700_000_000_001),
    ServerName("rs-a.example.com", 16020, 1_700_000_000_999),  # a later incarnation on the same address
    ServerName("10.0.0.7", 16021, 42),
    ServerName("::1", 16020, 7),
)
#: States in which no server holds the region: a transition into one of them clears the row's server. (A
#: transition into OPENING names the server; any other keeps it.)
UNHOSTED = frozenset(
    {
        S.OFFLINE,
        S.CLOSED,
        S.FAILED_OPEN,
        S.ABNORMALLY_CLOSED,
        S.SPLIT,
        S.MERGED,
        S.SPLITTING_NEW,
        S.MERGING_NEW,
    }
)
#: States a transition procedure is attached in.
IN_TRANSITION = frozenset({S.OPENING, S.CLOSING, S.SPLITTING, S.MERGING})
KIND_OF = {S.OPENING: TransitKind.ASSIGN, S.CLOSING: TransitKind.UNASSIGN}


@dataclass(slots=True)
class RegionNode:
    """A region in the master's memory: its id and its region_state row. `state` is the row's, so that
    meta.states.transition() moves the row."""

    region_id: int
    row: RegionStateRow

    @property
    def state(self) -> RegionState:
        return self.row.state

    @state.setter
    def state(self, value: RegionState) -> None:
        self.row.state = value


def _refuse(_old: bytes | None) -> bytes | None:
    raise RuntimeError("refused on purpose")


def read_meta(store: MetaStore) -> dict[int, RegionStateRow]:
    """Every region_state row of meta, decoded."""
    with store.snapshot() as snap:
        return {from_u64(key): decode_region_state(value) for key, value in snap.scan("region_state")}


def describe(rows: dict[int, RegionStateRow]) -> str:
    return ", ".join(f"{rid}:{row.state.name}@{row.server}" for rid, row in sorted(rows.items()))


class RegionLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="regent-lifecycle-"))
        self.path = self.dir / "meta"
        self.store = MetaStore.open(self.path)
        self.loop = asyncio.new_event_loop()
        self.epoch = 0
        self.writer = self._start_writer()
        self.memory: dict[int, RegionStateRow] = {}  # the master's view
        self.acked: dict[int, RegionStateRow] = {}  # the model: what meta acknowledged
        self.ids = itertools.count(1)
        self.procs = itertools.count(1)
        self.seq = 0
        self.crashes = 0
        self.last_seen: dict[int, RegionState] = {}  # each region's state in meta at the last invariant

    # ---- plumbing ----

    def _start_writer(self) -> MetaWriter:
        async def start() -> MetaWriter:
            writer = MetaWriter(self.store, epoch=self.epoch)
            writer.start()
            return writer

        return self.loop.run_until_complete(start())

    def _write(self, batch: WriteBatch) -> None:
        """Hand `batch` to the writer and wait for its acknowledgement (bounded: a stuck writer fails)."""
        self.loop.run_until_complete(asyncio.wait_for(self.writer.write(batch), 10.0))

    def _persist(self, changed: dict[int, RegionStateRow]) -> None:
        """Write `changed` in one batch; only once it is acknowledged does memory (and the model) take it."""
        batch = WriteBatch()
        for rid, row in sorted(changed.items()):
            batch.put("region_state", u64(rid), encode_region_state(row))
        self._write(batch)
        self.memory.update(changed)
        self.acked.update({rid: copy.copy(row) for rid, row in changed.items()})
        self.every_change_of_state_in_meta_is_an_edge_of_the_answer_key()

    def _moved(self, rid: int, target: RegionState, server: ServerName) -> RegionStateRow:
        """A copy of region `rid`'s row, moved to `target` by transition() with the fields a master sets."""
        node = RegionNode(rid, copy.copy(self.memory[rid]))
        transition(node, target)
        row = node.row
        if target is S.OPENING:  # an assign or a retry: a (new) server, a higher open sequence number
            self.seq += 1
            retry = self.memory[rid].state is S.OPENING
            row.server, row.open_seq_num = server, self.seq
            row.attempts = row.attempts + 1 if retry else 1
            row.proc_id = row.proc_id if retry else next(self.procs)
        elif target in IN_TRANSITION:
            row.proc_id = next(self.procs)
        else:
            row.proc_id, row.attempts = 0, 0
        if target in UNHOSTED:
            row.server = None
        row.target = server if target is S.CLOSING and row.server not in (None, server) else None  # a move
        row.kind = TransitKind.MOVE if row.target else KIND_OF.get(target, TransitKind.NONE)
        return row

    def _born(self, state: RegionState) -> tuple[int, RegionStateRow]:
        return next(self.ids), RegionStateRow(state)

    def _with_targets(self) -> list[int]:
        return sorted(rid for rid, row in self.memory.items() if targets(row.state))

    def _in(self, state: RegionState) -> list[int]:
        return sorted(rid for rid, row in self.memory.items() if row.state is state)

    # ---- rules ----

    @initialize(regions=st.integers(1, 5))
    def create_regions(self, regions: int) -> None:
        self._persist(dict(self._born(S.OFFLINE) for _ in range(regions)))

    @precondition(lambda self: bool(self._with_targets()))
    @rule(data=st.data(), steps=st.integers(1, 5))
    def legal_transitions(self, data: st.DataObject, steps: int) -> None:
        """A walk of up to `steps` legal transitions of one region, each persisted: deep states (CLOSED
        after a close, a split parent) are reached within a few rules."""
        rid = data.draw(st.sampled_from(self._with_targets()), label="region")
        for _ in range(steps):
            current = self.memory[rid].state
            if not targets(current):
                break
            target = data.draw(st.sampled_from(sorted(targets(current))), label="target")
            server = data.draw(st.sampled_from(SERVERS), label="server")
            row = self._moved(rid, target, server)
            self._persist({rid: row})
            event(f"transition {current.name} -> {target.name}")

    @rule(data=st.data())
    def every_illegal_transition_is_refused_and_changes_nothing(self, data: st.DataObject) -> None:
        """Every target the answer key forbids from the region's state, tried one after the other."""
        rid = data.draw(st.sampled_from(sorted(self.memory)), label="region")
        current = self.memory[rid].state
        before_memory, before_meta = copy.deepcopy(self.memory), read_meta(self.store)
        before_txn = self.store.last_txnid()
        for target in sorted(set(S) - targets(current)):
            node = RegionNode(rid, self.memory[rid])  # the live row: a refused transition must not touch it
            try:
                transition(node, target)
            except IllegalTransition as exc:
                assert (exc.region_id, exc.current, exc.target) == (rid, current, target)
                message = str(exc)
                assert f"region {rid}" in message and f"{current.name} -> {target.name}" in message, message
            else:
                raise AssertionError(f"region {rid}: {current.name} -> {target.name} was accepted")
            assert self.memory == before_memory, f"region {rid}: memory changed by a refused transition"
        assert read_meta(self.store) == before_meta and self.store.last_txnid() == before_txn

    @precondition(lambda self: bool(self._in(S.CLOSED)) and len(self.memory) <= MAX_REGIONS - 2)
    @rule(data=st.data())
    def split(self, data: st.DataObject) -> None:
        """The point of no return: the parent's SPLIT and both daughters (SPLITTING_NEW) in one batch."""
        parent = data.draw(st.sampled_from(self._in(S.CLOSED)), label="parent")
        changed = {parent: self._moved(parent, S.SPLIT, SERVERS[0])}
        changed.update(self._born(S.SPLITTING_NEW) for _ in range(2))
        self._persist(changed)
        event("split")

    @precondition(lambda self: len(self._in(S.CLOSED)) >= 2 and len(self.memory) < MAX_REGIONS)
    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        """Both parents MERGED and the child (MERGING_NEW) in one batch."""
        parents = data.draw(
            st.lists(st.sampled_from(self._in(S.CLOSED)), min_size=2, max_size=2, unique=True)
        )
        changed = {rid: self._moved(rid, S.MERGED, SERVERS[0]) for rid in parents}
        changed.update([self._born(S.MERGING_NEW)])
        self._persist(changed)
        event("merge")

    @precondition(lambda self: bool(self._with_targets()))
    @rule(data=st.data())
    def refused_write_changes_nothing(self, data: st.DataObject) -> None:
        """A batch that fails inside the writer's transaction: the caller gets MetaWriteError, memory keeps
        the old row, meta holds nothing of the batch, and the writer carries on."""
        rid = data.draw(st.sampled_from(self._with_targets()), label="region")
        target = data.draw(st.sampled_from(sorted(targets(self.memory[rid].state))), label="target")
        row = self._moved(rid, target, data.draw(st.sampled_from(SERVERS), label="server"))
        batch = WriteBatch().put("region_state", u64(rid), encode_region_state(row))
        batch.update("info", b"refused", _refuse)
        with pytest.raises(MetaWriteError, match="refused on purpose"):
            self._write(batch)
        assert self.writer.failure is None, "a refused batch must not stop the writer"

    @rule(data=st.data(), in_flight=st.booleans())
    def crash(self, data: st.DataObject, in_flight: bool) -> None:
        """Abandon the writer without stopping it, with a transition possibly queued but not acknowledged,
        close the environment, reopen meta from disk and rebuild memory from it."""
        if in_flight and (candidates := self._with_targets()):
            rid = data.draw(st.sampled_from(candidates), label="in-flight region")
            target = data.draw(st.sampled_from(sorted(targets(self.memory[rid].state))), label="target")
            row = self._moved(rid, target, SERVERS[1])
            self.memory[rid] = row  # memory ahead of meta: the write is queued, never acknowledged
            batch = WriteBatch().put("region_state", u64(rid), encode_region_state(row))
            self.loop.create_task(self.writer.write(batch))
            # One turn of the loop: the write is queued and the writer woken, but it has not committed.
            self.loop.call_soon(self.loop.stop)
            self.loop.run_forever()
        event(f"crash with a write in flight: {in_flight and self.memory != self.acked}")
        self._abandon()
        self.store = MetaStore.open(self.path)
        self.crashes += 1
        self.memory = read_meta(self.store)
        assert self.memory == self.acked, (
            f"after crash {self.crashes}, expected meta to hold what was acknowledged: "
            f"{describe(self.acked)}; found {describe(self.memory)}"
        )
        # a new master: bumps the epoch, then writes through its own writer
        self.epoch += 1
        self.store.bootstrap_write(WriteBatch().put("info", b"master_epoch", u64(self.epoch)))
        self.loop = asyncio.new_event_loop()
        self.writer = self._start_writer()

    def _abandon(self) -> None:
        """Drop the writer and its queue where they stand: nothing more runs on their loop."""
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()
        self.store.close()

    # ---- invariants ----

    @invariant()
    def meta_equals_memory_and_what_was_acknowledged(self) -> None:
        meta = read_meta(self.store)
        assert meta == self.memory, f"meta: {describe(meta)}; memory: {describe(self.memory)}"
        assert meta == self.acked, f"meta: {describe(meta)}; acknowledged: {describe(self.acked)}"

    @invariant()
    def every_change_of_state_in_meta_is_an_edge_of_the_answer_key(self) -> None:
        """Read from meta, not from the rows this test built: what meta went through since the last look
        (taken after every acknowledged write and after every step)."""
        now = {rid: row.state for rid, row in read_meta(self.store).items()}
        for rid, state in sorted(now.items()):
            before = self.last_seen.get(rid)
            if before is None:
                assert state in BORN, f"region {rid} appeared in meta as {state.name}"
            elif before is not state:
                assert (before, state) in LEGAL, f"region {rid}: meta went {before.name} -> {state.name}"
        assert self.last_seen.keys() <= now.keys(), "a region's row left meta"
        self.last_seen = now

    def teardown(self) -> None:
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.writer.stop())
                self.loop.close()
            self.store.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


RegionLifecycle.TestCase.settings = settings(
    max_examples=examples(100),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_region_lifecycle_keeps_meta_and_memory_equal_through_transitions_and_crashes = RegionLifecycle.TestCase
