"""regent.verify.linked_list's pure core: the lists the writers build are whole circles, and the tally
finds planted damage (a deleted node, an overwritten pointer, a node written past the lists' end, a writer
that stopped midway). The command that writes through the SDK's Table waits for the client's data path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

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
