"""The client's location cache and the pure parts of routing: grouping rows by region and server, and what
each refusal does to the cache. No cluster: these are the decisions, driven alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from client.locations import CachedRegion, LocationCache
from client.retry import BACKOFF, PAUSE_S, Reason, Refusal, apply_refusal, pause
from client.routing import group_rows

keys = st.binary(max_size=3)


@st.composite
def regions(draw: st.DrawFn) -> CachedRegion:
    a, b = draw(keys), draw(keys)
    start, end = min(a, b), max(a, b)
    if start == end or (draw(st.booleans()) and draw(st.booleans())):
        end = b""  # the table's end
    return CachedRegion(draw(st.integers(1, 50)), start, end, draw(st.sampled_from(["s1:1", "s2:2", "s3:3"])))


class CacheAgainstModel(RuleBasedStateMachine):
    """The cache against the simplest model: a set of regions where adding one removes every overlapping
    one. Whatever is added, dropped or moved, lookups agree and the invariants hold."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = LocationCache("t")
        self.model: list[CachedRegion] = []
        self.next_id = 0

    @rule(region=regions())
    def add(self, region: CachedRegion) -> None:
        self.next_id += 1  # region ids are unique, as the master's are
        region = CachedRegion(self.next_id, region.start_key, region.end_key, region.server)
        self.cache.add([region])
        self.model = [r for r in self.model if not r.overlaps(region)] + [region]

    @rule(region_id=st.integers(1, 50))
    def drop(self, region_id: int) -> None:
        found = [r for r in self.model if r.region_id == region_id]
        assert self.cache.drop(region_id) == bool(found)
        if found:
            self.model.remove(found[0])

    @rule(server=st.sampled_from(["s1:1", "s2:2", "s3:3"]))
    def drop_server(self, server: str) -> None:
        expected = sum(r.server == server for r in self.model)
        assert self.cache.drop_server(server) == expected
        self.model = [r for r in self.model if r.server != server]

    @rule(row=keys)
    def find(self, row: bytes) -> None:
        expected = [r for r in self.model if r.contains(row)]
        assert len(expected) <= 1
        assert self.cache.find(row) == (expected[0] if expected else None)

    @rule(key=keys)
    def find_before(self, key: bytes) -> None:
        expected = [r for r in self.model if r.holds_keys_before(key)]
        assert len(expected) <= 1
        assert self.cache.find_before(key) == (expected[0] if expected else None)

    @invariant()
    def valid(self) -> None:
        self.cache.validate()
        assert sorted(self.cache.regions(), key=lambda r: r.start_key) == sorted(
            self.model, key=lambda r: r.start_key
        )


TestCacheAgainstModel = CacheAgainstModel.TestCase


def test_a_split_replaces_the_parent_and_a_merge_replaces_the_daughters() -> None:
    cache = LocationCache("t")
    cache.add([CachedRegion(1, b"", b"m", "a:1"), CachedRegion(2, b"m", b"", "a:1")])
    cache.add([CachedRegion(3, b"", b"f", "b:2"), CachedRegion(4, b"f", b"m", "c:3")])  # 1 split
    assert [r.region_id for r in cache.regions()] == [3, 4, 2]
    assert cache.find(b"g") == CachedRegion(4, b"f", b"m", "c:3")
    cache.add([CachedRegion(5, b"", b"", "a:1")])  # everything merged into one
    assert [r.region_id for r in cache.regions()] == [5]
    cache.validate()


def test_rows_are_grouped_by_server_then_region_and_misses_are_listed() -> None:
    cache = LocationCache("t")
    r1, r2, r3 = (
        CachedRegion(1, b"", b"g", "a:1"),
        CachedRegion(2, b"g", b"p", "b:2"),
        CachedRegion(3, b"t", b"", "a:1"),
    )
    cache.add([r1, r2, r3])
    rows = list(enumerate([b"a", b"h", b"q", b"z", b"b", b"s", b"o"]))
    grouping = group_rows(cache, rows)
    assert grouping.by_server == {"a:1": {r1: [0, 4], r3: [3]}, "b:2": {r2: [1, 6]}}
    assert grouping.missing == [2, 5]  # b"q" and b"s" are in the hole [p, t)


@given(
    splits=st.lists(st.binary(min_size=1, max_size=2), unique=True, max_size=8).map(sorted),
    rows=st.lists(st.binary(max_size=3), max_size=30),
)
def test_every_row_is_grouped_once_into_the_region_that_holds_it(
    splits: list[bytes], rows: list[bytes]
) -> None:
    bounds = [b"", *splits, b""]
    cache = LocationCache("t")
    cache.add(CachedRegion(i + 1, bounds[i], bounds[i + 1], f"s{i % 3}:1") for i in range(len(bounds) - 1))
    grouping = group_rows(cache, enumerate(rows))
    assert not grouping.missing
    seen = []
    for server, by_region in grouping.by_server.items():
        for region, indexes in by_region.items():
            assert region.server == server
            for i in indexes:
                assert region.contains(rows[i])
                seen.append(i)
    assert sorted(seen) == list(range(len(rows)))


def test_each_refusal_updates_the_cache_as_the_design_says() -> None:
    def fresh() -> LocationCache:
        cache = LocationCache("t")
        cache.add([CachedRegion(1, b"", b"", "old:1")])
        return cache

    cache = fresh()
    assert apply_refusal(cache, Refusal(1, Reason.MOVED, "new:2")) is True  # retried at once, there
    assert cache.find(b"x") == CachedRegion(1, b"", b"", "new:2")
    cache = fresh()
    assert apply_refusal(cache, Refusal(1, Reason.OPENING)) is False  # kept: back off, same server
    assert cache.find(b"x") is not None
    for reason in (Reason.NOT_SERVING, Reason.MOVED, Reason.CLOSING, Reason.FENCED, Reason.SPLIT):
        cache = fresh()
        assert apply_refusal(cache, Refusal(1, reason)) is False
        assert cache.find(b"x") is None, reason  # dropped: looked up at the master again


@given(attempt=st.integers(0, 100), remaining=st.floats(0, 100))
def test_a_pause_follows_hbase_backoff_with_bounded_jitter_and_never_passes_the_deadline(
    attempt: int, remaining: float
) -> None:
    base = PAUSE_S * BACKOFF[min(attempt, len(BACKOFF) - 1)]
    waited = pause(attempt, remaining)
    assert 0 <= waited <= remaining
    assert waited == remaining or base <= waited <= base * 1.25
