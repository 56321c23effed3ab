"""The pure pieces of the data RPCs' server side, without processes: the scanner registry (ids, idle expiry,
its bound, pieces for batching), the memory of where closed regions went, the protobuf conversions, and
the master's orders carrying families and destinations. The store under the scanners is a real LMDB one."""

from __future__ import annotations

from pathlib import Path

import pytest

from master.assignment import CloseOrders, OpenOrders
from master.dispatch import _requests
from meta import ColumnFamily, RegionInfo, ServerName
from regent.proto import data_pb2
from regionserver import data_proto
from regionserver.data import Claim, Put, RegionStore, RowMutation, Scan, Scanner
from regionserver.data.filters import parse_filter
from regionserver.data.keys import TS_MAX
from regionserver.hosting import Hosting, MovedRegions
from regionserver.scanners import ParsedFilter, ScannerNotFound, Scanners, TooManyScanners
from regionserver.store import RegionData
from tests.clocks import Clock

SERVER = ServerName("127.0.0.1", 16020, 1)
FAMILIES = {b"f": ColumnFamily("f")}


@pytest.fixture
def store(tmp_path: Path) -> RegionStore:
    made = RegionStore(tmp_path / "region", Claim(SERVER, 1), FAMILIES)
    rows = [RowMutation(b"r%d" % i, tuple(Put(b"f", b"q%d" % q, b"v") for q in range(5))) for i in range(10)]
    assert made.mutate(rows) == [None] * 10
    return made


def test_an_idle_scanner_expires_and_a_used_one_does_not(store: RegionStore) -> None:
    clock = Clock()
    scanners = Scanners(timeout_s=60, clock=clock)
    idle = scanners.add(1, 1, Scanner(store, Scan()), 0, None)
    used = scanners.add(1, 1, Scanner(store, Scan()), 0, None)
    assert idle.scanner_id != used.scanner_id and 0 < idle.scanner_id < 2**63
    clock.now += 59
    assert scanners.get(used.scanner_id) is used  # renews its lease
    clock.now += 2
    assert scanners.expire() == 1 and len(scanners) == 1
    with pytest.raises(ScannerNotFound, match=f"no scanner {idle.scanner_id} .* expired after 60 s idle"):
        scanners.get(idle.scanner_id)
    assert scanners.get(used.scanner_id) is used
    assert scanners.close(used.scanner_id) and not scanners.close(used.scanner_id)


def test_open_scanners_are_bounded(store: RegionStore) -> None:
    scanners = Scanners(capacity=2, clock=Clock())
    first = scanners.add(1, 1, Scanner(store, Scan()), 0, None)
    scanners.add(1, 1, Scanner(store, Scan()), 0, None)
    with pytest.raises(TooManyScanners, match="has 2 open scanners, the most it allows"):
        scanners.add(1, 1, Scanner(store, Scan()), 0, None)
    scanners.close(first.scanner_id)
    scanners.add(1, 1, Scanner(store, Scan()), 0, None)


def test_batching_cuts_rows_into_pieces_and_replies_stop_at_their_size(store: RegionStore) -> None:
    scanners = Scanners(clock=Clock())
    live = scanners.add(1, 1, Scanner(store, Scan()), 2, None)
    pieces = live.next(4, 1 << 20)
    assert [(p.row, len(p.cells), p.partial) for p in pieces] == [
        (b"r0", 2, True),
        (b"r0", 2, True),
        (b"r0", 1, False),
        (b"r1", 2, True),
    ]
    assert len(live.next(1, 1)) == 1  # a byte budget of 1: one piece, then stop
    rest = live.next(1000, 1 << 20)
    assert len(rest) == 3 * 10 - 5 and live.exhausted and not live.scan_done


def test_a_filter_that_ends_the_scan_makes_it_done_and_one_that_does_not_only_exhausts_the_region(
    store: RegionStore,
) -> None:
    stop = ParsedFilter(parse_filter("InclusiveStopFilter('r2')"), False)
    scanners = Scanners(clock=Clock())
    live = scanners.add(1, 1, Scanner(store, Scan(filter=stop)), 0, stop)
    assert [p.row for p in live.next(100, 1 << 20)] == [b"r0", b"r1", b"r2"]
    assert live.exhausted and live.scan_done
    passing = ParsedFilter(parse_filter("KeyOnlyFilter()"), False)
    live = scanners.add(1, 1, Scanner(store, Scan(filter=passing)), 0, passing)
    assert len(live.next(100, 1 << 20)) == 10 and live.exhausted and not live.scan_done
    limited = scanners.add(1, 1, Scanner(store, Scan(limit=3)), 0, None)
    assert len(limited.next(100, 1 << 20)) == 3 and limited.scan_done


def test_a_scanner_reads_only_its_regions_rows(store: RegionStore) -> None:
    rows = [row for row, _ in Scanner(store, Scan(), region=(b"r3", b"r6"))]
    assert rows == [b"r3", b"r4", b"r5"]
    backwards = [row for row, _ in Scanner(store, Scan(reverse=True), region=(b"r3", b"r6"))]
    assert backwards == [b"r5", b"r4", b"r3"]


def test_moved_regions_are_remembered_for_a_while_and_a_bounded_number() -> None:
    other = ServerName("127.0.0.1", 16021, 2)
    moved = MovedRegions(ttl_s=10, capacity=2)
    moved.remember(1, other, now=0)
    moved.remember(2, other, now=5)
    assert moved.destination(1, now=9) == other
    assert moved.destination(1, now=10) is None and moved.destination(2, now=10) == other
    moved.remember(3, other, now=11)
    moved.remember(4, other, now=11)
    assert len(moved) == 2 and moved.destination(2, now=11) is None


def test_a_close_with_a_destination_is_remembered_and_a_new_open_here_forgets_it() -> None:
    other = ServerName("127.0.0.1", 16021, 2)
    hosting = Hosting()
    hosting.open_many("t", [7], [1], [1], [b""], [b""], families=FAMILIES)
    assert hosting.opening[7].families == FAMILIES
    hosting.answered(hosting.take_report(10), [[]])
    assert 7 in hosting.online
    hosting.online[7].reads += 3
    assert hosting.region_loads() == [(7, 3, 0)]
    hosting.close_many([7], [2], [other], now=1.0)
    assert hosting.moved.destination(7, now=2.0) == other
    hosting.open_many("t", [7], [3], [2], [b""], [b""])  # moved back here
    report = hosting.take_report(10)
    hosting.answered(report, [[] for _ in report])
    assert 7 in hosting.online and hosting.moved.destination(7, now=2.0) is None


def test_conversions_refuse_what_cannot_mean_anything() -> None:
    assert data_proto.column_of(b"f") == b"f"
    assert data_proto.column_of(b"f:a:b") == (b"f", b"a:b")  # a qualifier may hold ':'
    assert data_proto.column_of(b"f:") == (b"f", b"")
    with pytest.raises(data_proto.InvalidRequest, match="a column is"):
        data_proto.column_of(b"")
    assert data_proto.time_range_of(data_pb2.TimeRange(min=3), present=True).max == TS_MAX + 1
    with pytest.raises(data_proto.InvalidRequest, match=r"min < max, got \[4, 2\)"):
        data_proto.time_range_of(data_pb2.TimeRange(min=4, max=2), present=True)
    with pytest.raises(data_proto.InvalidRequest, match="unknown mutation kind 7"):
        data_proto.check_kinds([data_pb2.Mutation(kind=7)])  # type: ignore[arg-type]
    assert data_proto.rows_per_reply(0) == 1000 and data_proto.rows_per_reply(10**9) == 10_000
    assert len(data_proto.quote(b"x" * 10_000)) < 100


def test_orders_carry_the_tables_families_and_the_closes_destinations() -> None:
    target = ServerName("127.0.0.1", 16021, 2)
    opens = OpenOrders(
        [1, 2], [10, 11], [5, 6], [RegionInfo(1, "t", b"", b"m"), RegionInfo(2, "u", b"", b"")]
    )
    closes = CloseOrders([3, 4], [12, 13], [target, None])
    families = {"t": (ColumnFamily("f", max_versions=3),), "u": (ColumnFamily("g", ttl=5),)}
    ((request, _, _),) = _requests(SERVER, 1, opens, closes, lambda table: families.get(table, ()))
    by_table = {
        group.table: [(f.name, f.max_versions, f.ttl_seconds) for f in group.families]
        for group in request.opens
    }
    assert by_table == {"t": [("f", 3, 0)], "u": [("g", 1, 5)]}
    assert [(d.host, d.port, d.startcode) for d in request.closes.destinations] == [
        ("127.0.0.1", 16021, 2),
        ("", 0, 0),
    ]
    ((plain, _, _),) = _requests(SERVER, 1, OpenOrders(), CloseOrders([3], [12], [None]))
    assert not plain.closes.destinations


def test_a_regions_disk_bytes_are_its_files_size(store: RegionStore, tmp_path: Path) -> None:
    assert RegionData(store).disk_bytes() == (store.path / "data.mdb").stat().st_size > 0
    empty = RegionStore(tmp_path / "never-written", Claim(SERVER, 1), FAMILIES)
    assert RegionData(empty).disk_bytes() == 0 and not (tmp_path / "never-written").exists()
