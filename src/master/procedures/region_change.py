"""What split_region and merge_regions share: parents held, closed, replaced by children at a point of no
return, children opened; before that point, a rollback that gives the parents back.

    prepare      checks; the children's ids allocated; parents OPEN -> SPLITTING / MERGING
    close        parents -> CLOSING, close orders carrying the procedure's id
    wait_closed  until every parent is CLOSED (or ABNORMALLY_CLOSED: its server died, it counts as closed)
    references   the children's REFERENCES files written (by the executor, before the step's commit)
    commit       POINT OF NO RETURN, one transaction: parents SPLIT / MERGED (offline, with `children`),
                 the children's RegionInfo and region_state rows (SPLITTING_NEW / MERGING_NEW)
    open         children opened (on the parent's last server if it is live)
    finish       until the children have settled

An abort before `commit` has run rolls back: rb_remove (the children's store directories, with their
REFERENCES files, removed) -> rb_reopen (the parents opened again, once none is CLOSING) -> rb_finish.

The procedure locks no table (`table` is ""): its parents and children are attached to it, so nothing else
moves them, and table procedures see them busy. The regions' table is in the payload.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, ClassVar

from master import catalog as catalog_mod
from master import split_assign, story
from master.errors import (
    InvalidArgument,
    RegionInTransition,
    RegionNotFound,
    TableNotEnabled,
    TableNotFound,
)
from master.procedures.base import Env, Outcome, Procedure
from master.regions import RegionNode
from meta import RegionInfo, RegionState, TableState, TransitKind, WriteBatch, keys
from meta.codec import encode_region_info
from meta.references import Reference
from regent.proto import meta_pb2

S = RegionState
#: The forward steps, for progress (done/total).
FORWARD = ("prepare", "close", "wait_closed", "references", "commit", "open", "finish")


class RegionChange(Procedure):
    """A split or a merge; subclasses say how the children are cut (`child_ranges`) and what they check."""

    TRANSIT: ClassVar[TransitKind]
    ROLLBACK = {step: "rb_remove" for step in ("close", "wait_closed", "references", "commit")}
    STEPS: ClassVar[dict[str, str]] = {
        "prepare": "check the request and take the parents",
        "close": "close the parents",
        "wait_closed": "wait for the parents to close",
        "references": "write the children's REFERENCES files",
        "commit": "point of no return: parents retired, children written to meta",
        "open": "open the children",
        "finish": "wait for the children to open",
        "rb_remove": "remove the children's store directories",
        "rb_reopen": "open the parents again",
        "rb_finish": "wait for the parents to open",
    }

    def __init__(self, proc_id: int, table: str, data: Any) -> None:
        super().__init__(proc_id, "", data)

    @classmethod
    def decode_payload(cls, raw: bytes) -> Any:
        return meta_pb2.RegionProcedureData.FromString(raw)

    def story_cause(self) -> str:
        cause: str = self.data.cause
        if cause in (story.AUTO_SPLIT, story.NORMALIZER):
            return cause
        return story.SPLIT if self.TRANSIT is TransitKind.SPLIT else story.MERGE

    def describe_step(self) -> str:
        parents = ", ".join(str(p) for p in self.data.parents)
        return f"{super().describe_step()} (table {self.data.table}, regions {parents})"

    # ---- the kind's own parts ----

    def child_ranges(self, parents: list[RegionNode]) -> list[tuple[bytes, bytes, list[Reference]]]:
        """Each child's [start, end) and its references, in key order."""
        raise NotImplementedError

    def check_request(self, env: Env, parents: list[RegionNode]) -> None:
        """The kind's own checks (a split key inside the region; parents adjacent)."""

    # ---- shared checks ----

    def parents(self, env: Env) -> list[RegionNode]:
        nodes = []
        for region_id in self.data.parents:
            node = env.am.regions.get(region_id)
            if node is None:
                raise RegionNotFound(f"region {region_id} does not exist")
            nodes.append(node)
        return nodes

    def check(self, env: Env, ahead: Collection[Procedure]) -> None:
        table = self.data.table
        descriptor = env.catalog.tables.get(table)
        if descriptor is None:
            raise TableNotFound(f"table {table!r} does not exist")
        if descriptor.state is not TableState.ENABLED:
            raise TableNotEnabled(f"table {table!r} is {descriptor.state.name}: {self.KIND} needs it ENABLED")
        parents = self.parents(env)
        for node in parents:
            if node.info.table != table:
                raise InvalidArgument(
                    f"region {node.region_id} belongs to table {node.info.table!r}, not {table!r}"
                )
            if node.proc_id or node.region_id in env.am.waiting:
                raise RegionInTransition(
                    f"region {node.region_id} is {node.state.name} under procedure {node.proc_id} "
                    f"({node.kind.name.lower()}): one procedure at a time, try again when it is done"
                )
            if node.state is not S.OPEN or node.info.offline:
                raise InvalidArgument(
                    f"region {node.region_id} is {node.state.name}: {self.KIND} needs it OPEN"
                )
        self.check_request(env, parents)

    # ---- steps ----

    def _progress(self, step: str) -> Outcome:
        return Outcome(next=step, done=FORWARD.index(step), total=len(FORWARD))

    def store_dir(self, env: Env, region_id: int) -> Path:
        table: str = self.data.table
        return env.rootdir / "data" / table / str(region_id)

    def step_prepare(self, env: Env) -> Outcome:
        parents = self.parents(env)
        outcome = self._progress("close")
        if not self.data.children:
            first = env.catalog.counters[b"next_region_id"]
            count = len(self.child_ranges(parents))
            env.catalog.counters[b"next_region_id"] = first + count
            self.data.children.extend(range(first, first + count))
            catalog_mod.counter_updates(outcome.batch, {b"next_region_id": first + count})
        outcome.effects = split_assign.hold(env.am, parents, self.proc_id, self.TRANSIT)
        return outcome

    def step_close(self, env: Env) -> Outcome:
        parents = self.parents(env)
        outcome = self._progress("wait_closed")
        outcome.effects = split_assign.close(env.am, parents)
        outcome.wait = [n.region_id for n in parents]
        return outcome

    def step_wait_closed(self, env: Env) -> Outcome:
        busy = [r for r in self.data.parents if not env.settled(r, self.proc_id)]
        if busy:
            return Outcome(next="wait_closed", wait=busy)
        return self._progress("references")

    def _children(self, env: Env) -> list[tuple[RegionInfo, list[Reference]]]:
        parents = self.parents(env)
        ranges = self.child_ranges(parents)
        out = []
        for child_id, (start, end, refs) in zip(self.data.children, ranges, strict=True):
            info = RegionInfo(child_id, self.data.table, start, end, parents=self.child_parents(parents))
            out.append((info, refs))
        return out

    def child_parents(self, parents: list[RegionNode]) -> tuple[int, ...]:
        """What a child's RegionInfo records as its parents (merged child: all of them; daughter: none)."""
        return ()

    def step_references(self, env: Env) -> Outcome:
        outcome = self._progress("commit")
        for info, refs in self._children(env):
            outcome.write_references[self.store_dir(env, info.region_id)] = refs
        return outcome

    def step_commit(self, env: Env) -> Outcome:
        parents = self.parents(env)
        children = self._children(env)
        child_ids = tuple(info.region_id for info, _ in children)
        batch = WriteBatch()
        retired: dict[int, RegionInfo] = {}
        for node in parents:
            old = node.info
            info = RegionInfo(
                old.region_id,
                old.table,
                old.start_key,
                old.end_key,
                split=self.TRANSIT is TransitKind.SPLIT,
                offline=True,
                children=child_ids,
                parents=old.parents,
            )
            retired[old.region_id] = info
            _put_info(batch, info)
        for info, _ in children:
            _put_info(batch, info)
        effects = split_assign.retire(env.am, parents, retired)
        _, born = split_assign.born(env.am, [info for info, _ in children], self.proc_id, self.TRANSIT)
        effects += born
        outcome = self._progress("open")
        outcome.effects, outcome.batch = effects, batch
        return outcome

    def step_open(self, env: Env) -> Outcome:
        children = [env.am.regions.get(r) for r in self.data.children]
        nodes = [n for n in children if n is not None]
        near = None
        for region_id in self.data.parents:  # the first parent's last server, if it is live
            parent = env.am.regions.get(region_id)
            if parent is not None and parent.target is not None and env.am.servers.is_live(parent.target):
                near = parent.target
                break
        outcome = self._progress("finish")
        outcome.effects = split_assign.open_children(env.am, nodes, near)
        outcome.wait = list(self.data.children)
        return outcome

    def step_finish(self, env: Env) -> Outcome:
        busy = [r for r in self.data.children if not env.settled(r)]
        if busy:
            return Outcome(next="finish", wait=busy)
        return Outcome(next=None, done=len(FORWARD), total=len(FORWARD))

    # ---- rollback ----

    def step_rb_remove(self, env: Env) -> Outcome:
        return Outcome(next="rb_reopen", remove=[self.store_dir(env, r) for r in self.data.children])

    def step_rb_reopen(self, env: Env) -> Outcome:
        parents = self.parents(env)
        closing = [n.region_id for n in parents if n.proc_id == self.proc_id and n.state is S.CLOSING]
        if closing:
            return Outcome(next="rb_reopen", wait=closing)
        effects = split_assign.reopen(env.am, parents)
        return Outcome(next="rb_finish", effects=effects, wait=list(self.data.parents))

    def step_rb_finish(self, env: Env) -> Outcome:
        busy = [r for r in self.data.parents if not env.settled(r)]
        if busy:
            return Outcome(next="rb_finish", wait=busy)
        return Outcome(next=None)


def _put_info(batch: WriteBatch, info: RegionInfo) -> None:
    batch.put(
        "regions", keys.region_key(info.table, info.start_key, info.region_id), encode_region_info(info)
    )
