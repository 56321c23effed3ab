"""regent.verify.linked_list's pure core: the lists the writers build are whole circles, and the tally
finds planted damage (a deleted node, an overwritten pointer, a node written past the lists' end, a writer
that stopped midway). The command itself: tests/test_verify_linked_list.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.errors import DataTimeout
from regent.verify import linked_list_run
from regent.verify.linked_list import Node, Tally, walk, writer_batches


def nodes_of(seed: int, writers: int, width: int, batches: int) -> dict[bytes, Node]:
    """Every node as the table holds it at the end (the first batch's rewrite replaces its first write)."""
    table: dict[bytes, Node] = {}
    for writer in range(writers):
        for batch in writer_batches(seed, writer, width, batches):
            for node in batch:
                table[node.key] = node
    return table


def tally(table: dict[bytes, Node]) -> Tally:
    return Tally().add_all((n.key, n.prev) for n in table.values())


@given(
    seed=st.integers(0, 2**32), writers=st.integers(1, 3), width=st.integers(1, 8), batches=st.integers(1, 6)
)
def test_a_complete_run_is_circles_with_every_node_referenced_once(
    seed: int, writers: int, width: int, batches: int
) -> None:
    table = nodes_of(seed, writers, width, batches)
    assert len(table) == writers * width * batches
    counts = tally(table).counts()
    assert counts.intact and counts.referenced == len(table)
    start = next(iter(table))
    circle = walk(lambda k: table[k].prev, start, limit=batches + 1)
    assert (circle.end, circle.steps) == ("circle", batches)


def test_the_keys_derive_from_the_seed_and_the_writer() -> None:
    assert nodes_of(1, 2, 4, 3).keys() == nodes_of(1, 2, 4, 3).keys()
    assert nodes_of(1, 2, 4, 3).keys() != nodes_of(2, 2, 4, 3).keys()


def test_a_deleted_node_is_undefined_and_its_predecessor_unreferenced() -> None:
    table = nodes_of(7, 2, 5, 4)
    victim = next(n for n in table.values() if n.prev is not None)
    del table[victim.key]
    found = tally(table)
    assert found.counts().undefined == 1 and found.undefined_keys() == [victim.key]
    assert found.unreferenced_keys() == [victim.prev]
    follower = next(n for n in table.values() if n.prev == victim.key)
    assert walk(lambda k: table[k].prev, follower.key, 100).end == "undefined"


def test_an_overwritten_pointer_shows_an_extra_reference_and_an_unreferenced_node() -> None:
    table = nodes_of(7, 1, 5, 4)
    a, b = [n for n in table.values() if n.prev is not None][:2]
    table[a.key] = Node(a.key, b.prev, a.writer, a.count)
    found = tally(table)
    counts = found.counts()
    assert (counts.undefined, counts.unreferenced, counts.extra_references) == (0, 1, 1)
    assert found.unreferenced_keys() == [a.prev] and found.extra_referenced_keys() == [b.prev]


def test_a_node_written_past_the_lists_end_is_unreferenced_and_its_target_referenced_twice() -> None:
    table = nodes_of(7, 1, 3, 3)
    target = next(iter(table.values()))
    extra = Node(b"\xff" * 16, target.key, 0, 10**6)
    table[extra.key] = extra
    found = tally(table)
    assert found.unreferenced_keys() == [extra.key] and found.extra_referenced_keys() == [target.key]


def test_a_writer_stopped_midway_leaves_unreferenced_heads_but_nothing_undefined() -> None:
    table: dict[bytes, Node] = {}
    batches = writer_batches(3, 0, 4, 5)
    for _ in range(3):  # three of the five batches, and no closing rewrite
        for node in next(batches):
            table[node.key] = node
    counts = tally(table).counts()
    assert (counts.undefined, counts.unreferenced, counts.extra_references) == (0, 4, 0)
    head = next(n for n in table.values() if n.count >= 8)
    assert walk(lambda k: table[k].prev, head.key, 100).end == "no predecessor"


def test_tallies_of_parts_merge_into_the_tally_of_the_whole() -> None:
    table = nodes_of(5, 2, 4, 4)
    items = [(n.key, n.prev) for n in table.values()]
    left, right = Tally().add_all(items[::2]), Tally().add_all(items[1::2])
    left.merge(right)
    assert left.counts() == tally(table).counts()


class FlakyTable:
    """Stands in for the SDK's Table in generate's retry logic: batch() collects puts; the first
    `timeouts` sends raise DataTimeout (nothing written), as a call whose regions kept moving does."""

    def __init__(self, timeouts: int) -> None:
        self.timeouts = timeouts
        self.rows: dict[bytes, dict[bytes, bytes]] = {}
        self.lock = threading.Lock()

    @contextmanager
    def batch(self) -> Iterator[Any]:
        pending: dict[bytes, dict[bytes, bytes]] = {}
        yield SimpleNamespace(put=lambda key, data: pending.__setitem__(key, data))
        with self.lock:
            if self.timeouts:
                self.timeouts -= 1
                raise DataTimeout("timed out", table="t")
            self.rows.update(pending)


def test_generate_sends_a_timed_out_batch_again_and_counts_the_retry() -> None:
    table = FlakyTable(timeouts=3)
    stats = linked_list_run.generate(table, 1, writers=2, width=4, batches=3, attempts=5)  # type: ignore[arg-type]
    assert (stats.nodes, stats.batches, stats.retries) == (2 * 4 * 4, 2 * 4, 3)
    found = Tally().add_all((k, d[linked_list_run.PREV] or None) for k, d in table.rows.items())
    assert found.counts().intact and found.counts().referenced == 2 * 4 * 3


def test_a_batch_out_of_attempts_ends_the_run_with_its_timeout() -> None:
    table = FlakyTable(timeouts=10**6)
    with pytest.raises(DataTimeout):
        linked_list_run.generate(table, 1, writers=3, width=2, batches=50, attempts=2)  # type: ignore[arg-type]
    assert not table.rows
