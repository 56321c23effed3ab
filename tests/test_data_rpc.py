"""The data RPCs (regent.v1.RegionData) against a real cluster: every call and field, HBase's versions,
timestamps, ttl and four delete kinds, per-region and per-row errors, scanners (batching, filters, expiry,
their bound), compaction while serving, families delivered by the master, and the store fencing a paused
old owner's write at the RPC level.

Raw protobuf goes straight to the RegionServers (the SDK's routing is tested with the SDK): each test finds
the server of its region through the master and calls it with the `app` certificate (role client).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import lmdb
import pytest

from client.errors import error_name
from regent import tls
from regent.proto import common_pb2, data_pb2, data_pb2_grpc, regionserver_pb2, regionserver_pb2_grpc
from regionserver.data import region_dir
from tests.cluster import Cluster, module_cluster, open_channel, wait_until
from tests.failure_helpers import Clusters, declared_dead, events, incarnation
from tests.http_helpers import get as http_get
from tests.http_helpers import http_url

TABLE = "t"
SPLIT = b"m"
SCANNER_TIMEOUT_S = 1.0
MAX_SCANNERS = 8
# A lease far longer than the tests: a paused master (the OPENING test) must not cost the servers theirs.
LONG_LEASE = ("--heartbeat-ms", "300", "--lease-ms", "120000")
M = data_pb2.Mutation
R = data_pb2.RegionError


@dataclass
class Env:
    cluster: Cluster
    channels: dict[tuple[str, str], Any]

    def stub(self, address: str, who: str = "app") -> data_pb2_grpc.RegionDataStub:
        channel = self.channels.get((address, who))
        if channel is None:
            channel = self.channels[(address, who)] = open_channel(address, who=who)
        return data_pb2_grpc.RegionDataStub(channel)

    def regions(self, table: str = TABLE) -> list[Any]:
        return list(self.cluster.admin.table_regions(table))

    def region_of(self, row: bytes, table: str = TABLE) -> Any:
        (region,) = [r for r in self.regions(table) if r.info.contains(row)]
        return region

    def server_stub(self, region: Any, who: str = "app") -> data_pb2_grpc.RegionDataStub:
        return self.stub(region.server.address, who)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    server_args = ["--scanner-timeout", str(SCANNER_TIMEOUT_S), "--max-scanners", str(MAX_SCANNERS)]
    with module_cluster(tmp_path_factory, servers=2, master_args=LONG_LEASE, server_args=server_args) as c:
        c.admin.create_table(TABLE, {"f": {"max_versions": 3}, "g": {"ttl": 3}, "k": {}}, split_keys=[SPLIT])
        c.wait_open(TABLE, 2)
        made = Env(c, {})
        try:
            yield made
        finally:
            for channel in made.channels.values():
                channel.close()


# ---- building requests, reading answers ----


def put(family: bytes, qualifier: bytes, value: bytes, ts: int | None = None) -> data_pb2.Mutation:
    m = M(kind=M.PUT, family=family, qualifier=qualifier, value=value)
    if ts is not None:
        m.timestamp = ts
    return m


def delete(
    kind: int, family: bytes = b"", qualifier: bytes = b"", ts: int | None = None
) -> data_pb2.Mutation:
    m = M(kind=kind, family=family, qualifier=qualifier)  # type: ignore[arg-type]
    if ts is not None:
        m.timestamp = ts
    return m


def mutate(env: Env, row: bytes, *mutations: data_pb2.Mutation) -> data_pb2.RegionOutcome:
    region = env.region_of(row)
    request = data_pb2.MutateRequest(
        regions=[
            data_pb2.RegionMutations(
                region_id=region.region_id, rows=[data_pb2.RowMutation(row=row, mutations=mutations)]
            )
        ]
    )
    (outcome,) = env.server_stub(region).Mutate(request, timeout=10).regions
    assert not outcome.HasField("error") and not outcome.row_errors, outcome
    return outcome


def get(
    env: Env, row: bytes, columns: Sequence[bytes] = (), **fields: Any
) -> list[tuple[bytes, bytes, int, bytes]]:
    """(family, qualifier, timestamp, value) of each cell of `row`, in the answer's order."""
    region = env.region_of(row)
    request = data_pb2.GetRequest(
        regions=[data_pb2.RegionRows(region_id=region.region_id, rows=[row])], columns=columns, **fields
    )
    (result,) = env.server_stub(region).Get(request, timeout=10).regions
    assert not result.HasField("error"), result.error
    (found,) = result.rows
    assert found.row == row
    return [(c.family, c.qualifier, c.timestamp, c.value) for c in found.cells]


def reason(error: data_pb2.RegionError) -> str:
    return R.Reason.Name(error.reason)


# ---- gets, puts, versions, timestamps, ttl ----


def test_versions_come_newest_first_up_to_max_versions_and_within_the_time_range(env: Env) -> None:
    row = b"versions"
    mutate(env, row, *(put(b"f", b"q", b"v%d" % ts, ts) for ts in (1, 2, 3, 4)))
    assert get(env, row, [b"f:q"]) == [(b"f", b"q", 4, b"v4")]
    # max_versions 3 for the family: the fourth version is gone, whatever the read asks for
    assert [c[2] for c in get(env, row, [b"f:q"], max_versions=10)] == [4, 3, 2]
    assert [c[2] for c in get(env, row, [b"f"], max_versions=2)] == [4, 3]
    in_range = get(env, row, [b"f:q"], max_versions=10, time_range=data_pb2.TimeRange(min=2, max=4))
    assert [c[2] for c in in_range] == [3, 2]
    assert get(env, row, [b"f:q"], time_range=data_pb2.TimeRange(min=10)) == []


def test_a_write_without_timestamp_gets_the_servers_time_and_columns_select_cells(env: Env) -> None:
    row = b"columns"
    mutate(env, row, put(b"f", b"a", b"1"), put(b"f", b"b", b"2"), put(b"k", b"c", b"3"))
    cells = get(env, row)
    assert [(c[0], c[1], c[3]) for c in cells] == [(b"f", b"a", b"1"), (b"f", b"b", b"2"), (b"k", b"c", b"3")]
    assert all(c[2] > 1_700_000_000_000 for c in cells), cells  # milliseconds of now
    assert [c[1] for c in get(env, row, [b"f"])] == [b"a", b"b"]
    assert [c[1] for c in get(env, row, [b"f:b", b"k:c"])] == [b"b", b"c"]
    assert get(env, row, [b"f:none"]) == []


def test_cells_of_a_family_with_a_ttl_expire(env: Env) -> None:
    row = b"ttl"
    mutate(env, row, put(b"g", b"q", b"short-lived"), put(b"f", b"q", b"kept"))
    assert [c[3] for c in get(env, row)] == [b"kept", b"short-lived"]
    wait_until(lambda: get(env, row, [b"g"]) == [], 20, "the cell of family g (ttl 3 s) to expire")
    assert [c[3] for c in get(env, row)] == [b"kept"]


def test_the_four_delete_kinds(env: Env) -> None:
    row = b"deletes"
    mutate(
        env,
        row,
        *(put(b"f", b"a", b"a%d" % ts, ts) for ts in (1, 2, 3)),
        *(put(b"f", b"b", b"b%d" % ts, ts) for ts in (1, 2)),
        put(b"k", b"c", b"c", 5),
    )
    every = {"max_versions": 10}
    mutate(env, row, delete(M.DELETE_VERSION, b"f", b"a", 2))  # exactly that version
    assert [c[2] for c in get(env, row, [b"f:a"], **every)] == [3, 1]
    mutate(env, row, delete(M.DELETE_VERSION, b"f", b"a"))  # no timestamp: the newest
    assert [c[2] for c in get(env, row, [b"f:a"], **every)] == [1]
    mutate(env, row, delete(M.DELETE_COLUMN, b"f", b"b", 1))  # versions at or below 1
    assert [c[2] for c in get(env, row, [b"f:b"], **every)] == [2]
    mutate(env, row, delete(M.DELETE_FAMILY, b"f"))  # no timestamp: everything up to now
    assert get(env, row, [b"f"], **every) == []
    assert [c[1] for c in get(env, row)] == [b"c"]
    mutate(env, row, delete(M.DELETE_ROW, ts=4))  # at or below 4: g:c (at 5) stays
    assert [c[1] for c in get(env, row)] == [b"c"]
    mutate(env, row, delete(M.DELETE_ROW))
    assert get(env, row) == []


def test_mutate_answers_per_row_and_writes_the_good_rows_of_a_batch(env: Env) -> None:
    region = env.region_of(b"batch-1")
    rows = [
        data_pb2.RowMutation(row=b"batch-1", mutations=[put(b"f", b"q", b"one")]),
        data_pb2.RowMutation(row=b"batch-2", mutations=[put(b"f", b"q", b"two"), put(b"nope", b"q", b"x")]),
        data_pb2.RowMutation(row=b"batch-3", mutations=[put(b"f", b"q", b"three")]),
    ]
    request = data_pb2.MutateRequest(
        regions=[data_pb2.RegionMutations(region_id=region.region_id, rows=rows)]
    )
    (outcome,) = env.server_stub(region).Mutate(request, timeout=10).regions
    assert list(outcome.row_errors) == [1] and outcome.row_errors[1].code == "NoSuchFamily", outcome
    assert "no column family b'nope'" in outcome.row_errors[1].message
    assert [c[3] for c in get(env, b"batch-1")] == [b"one"]
    assert get(env, b"batch-2") == []  # all or nothing: its good put was not written either
    assert [c[3] for c in get(env, b"batch-3")] == [b"three"]


def test_a_call_over_two_regions_is_answered_per_region(env: Env) -> None:
    low, high = env.regions()
    mutate(env, b"a-row", put(b"f", b"q", b"low"))
    mutate(env, b"z-row", put(b"f", b"q", b"high"))
    request = data_pb2.GetRequest(
        regions=[
            data_pb2.RegionRows(region_id=low.region_id, rows=[b"a-row", b"a-missing"]),
            data_pb2.RegionRows(region_id=high.region_id, rows=[b"z-row"]),
            data_pb2.RegionRows(region_id=low.region_id, rows=[b"z-row"]),  # not in that region
        ]
    )
    answer = env.server_stub(low).Get(request, timeout=10).regions
    assert [r.region_id for r in answer] == [low.region_id, high.region_id, low.region_id]
    assert [(r.row, [c.value for c in r.cells]) for r in answer[0].rows] == [
        (b"a-row", [b"low"]),
        (b"a-missing", []),
    ]
    if high.server == low.server:
        assert [c.value for c in answer[1].rows[0].cells] == [b"high"]
    else:
        assert reason(answer[1].error) == "NOT_SERVING" and not answer[1].rows, answer[1]
    assert reason(answer[2].error) == "NOT_SERVING" and "outside region" in answer[2].error.message


# ---- increments and check-and-put ----


def test_increments_are_8_byte_big_endian_counters_and_refused_rows_are_reported(env: Env) -> None:
    region = env.region_of(b"counter")
    mutate(env, b"counter-text", put(b"f", b"q", b"text"))

    def increment(*rows: data_pb2.RowIncrement) -> data_pb2.RegionCounters:
        request = data_pb2.IncrementRequest(
            regions=[data_pb2.RegionIncrements(region_id=region.region_id, rows=rows)]
        )
        (counters,) = env.server_stub(region).Increment(request, timeout=10).regions
        assert not counters.HasField("error"), counters
        return counters

    first = increment(data_pb2.RowIncrement(row=b"counter", columns=[b"f:a", b"f:b"], amounts=[5, -2]))
    assert [list(c.values) for c in first.rows] == [[5, -2]] and not first.row_errors
    second = increment(
        data_pb2.RowIncrement(row=b"counter", columns=[b"f:a"], amounts=[10]),
        data_pb2.RowIncrement(row=b"counter-text", columns=[b"f:q"], amounts=[1]),
        data_pb2.RowIncrement(row=b"counter-2", columns=[b"f"], amounts=[1]),
    )
    assert [list(c.values) for c in second.rows] == [[15], [], []]
    assert {i: e.code for i, e in second.row_errors.items()} == {1: "NotACounter", 2: "BadMutation"}
    assert [c[3] for c in get(env, b"counter", [b"f:a"])] == [(15).to_bytes(8, "big", signed=True)]
    assert [c[3] for c in get(env, b"counter-text")] == [b"text"]


def test_a_retried_increment_is_answered_once_even_from_the_server_its_region_moved_to(env: Env) -> None:
    """A nonce names an increment across its attempts: the same request again (a client's retry after a
    lost answer) gets the first answer and changes nothing, here and after the region moved (the record
    is in the region's store)."""
    row = b"nonce-counter"
    region = env.region_of(row)

    def increment(region: Any, nonce: int, group: int = 77) -> list[int]:
        request = data_pb2.IncrementRequest(
            nonce_group=group,
            regions=[
                data_pb2.RegionIncrements(
                    region_id=region.region_id,
                    rows=[data_pb2.RowIncrement(row=row, columns=[b"f:n"], amounts=[3], nonce=nonce)],
                )
            ],
        )
        (counters,) = env.server_stub(region).Increment(request, timeout=10).regions
        assert not counters.HasField("error") and not counters.row_errors, counters
        return list(counters.rows[0].values)

    def value() -> int:
        return int.from_bytes(get(env, row, [b"f:n"])[0][3], "big", signed=True)

    assert increment(region, nonce=1) == [3]
    assert increment(region, nonce=1) == [3] and value() == 3  # the retry: answered, not applied
    assert increment(region, nonce=1, group=78) == [6]  # another client's nonce 1 is another increment
    assert increment(region, nonce=2) == [9] and value() == 9
    target = next(s.server for s in env.cluster.status().servers if s.server != region.server)
    env.cluster.admin.move(region.region_id, target, timeout=60)
    moved = env.region_of(row)
    assert moved.server == target, moved
    assert increment(moved, nonce=2) == [9] and value() == 9  # a retry reaching the new owner
    assert increment(moved, nonce=3) == [12]


def test_check_and_put_applies_only_when_the_newest_value_is_the_expected_one(env: Env) -> None:
    row = b"cap"
    region = env.region_of(row)

    def check_and_put(
        expected: bytes | None, value: bytes, column: bytes = b"f:lock"
    ) -> data_pb2.CheckAndPutResponse:
        request = data_pb2.CheckAndPutRequest(
            region_id=region.region_id, row=row, column=column, mutations=[put(b"f", b"lock", value)]
        )
        if expected is not None:
            request.expected = expected
        return env.server_stub(region).CheckAndPut(request, timeout=10)

    assert check_and_put(None, b"first").applied  # absent, as expected
    assert not check_and_put(None, b"again").applied
    assert not check_and_put(b"wrong", b"again").applied
    assert check_and_put(b"first", b"second").applied
    assert [c[3] for c in get(env, row)] == [b"second"]
    refused = check_and_put(b"x", b"y", column=b"nope:q")
    assert refused.row_error.code == "NoSuchFamily" and not refused.applied, refused


# ---- scanners ----


@pytest.fixture(scope="module")
def scan_rows(env: Env) -> list[bytes]:
    """Rows s00..s19 (in the low region), each with three columns of f."""
    rows = [b"s%02d" % i for i in range(20)]
    region = env.region_of(rows[0])
    request = data_pb2.MutateRequest(
        regions=[
            data_pb2.RegionMutations(
                region_id=region.region_id,
                rows=[
                    data_pb2.RowMutation(
                        row=r, mutations=[put(b"f", q, r + b"/" + q, 7) for q in (b"a", b"b", b"c")]
                    )
                    for r in rows
                ],
            )
        ]
    )
    (outcome,) = env.server_stub(region).Mutate(request, timeout=10).regions
    assert not outcome.HasField("error") and not outcome.row_errors
    return rows


def scan(
    env: Env, spec: data_pb2.ScanSpec, rows: int = 0
) -> tuple[list[data_pb2.Row], list[data_pb2.ScanResponse]]:
    """Every Row of the low region's scan, and the replies (the scanner followed to its end)."""
    region = env.region_of(b"s00")
    stub = env.server_stub(region)
    reply = stub.OpenScanner(
        data_pb2.OpenScannerRequest(region_id=region.region_id, scan=spec, rows=rows), timeout=10
    )
    replies = [reply]
    while reply.more_in_region:
        assert reply.scanner_id != 0 and not reply.HasField("error"), reply
        reply = stub.ScannerNext(
            data_pb2.ScannerNextRequest(scanner_id=reply.scanner_id, rows=rows), timeout=10
        )
        replies.append(reply)
    assert reply.scanner_id == 0, "an exhausted scanner is closed by the server"
    return [row for r in replies for row in r.rows], replies


def keys(rows: list[data_pb2.Row]) -> list[bytes]:
    return [r.row for r in rows]


def test_a_scanner_reads_its_region_in_replies_of_the_rows_asked_for(
    env: Env, scan_rows: list[bytes]
) -> None:
    rows, replies = scan(env, data_pb2.ScanSpec(start_row=b"s", stop_row=b"t"), rows=6)
    assert keys(rows) == scan_rows
    assert [len(r.rows) for r in replies] == [6, 6, 6, 2]
    assert not any(r.scan_done for r in replies)
    assert [(c.qualifier, c.value) for c in rows[0].cells] == [
        (b"a", b"s00/a"),
        (b"b", b"s00/b"),
        (b"c", b"s00/c"),
    ]


def test_scans_with_bounds_prefix_reverse_limit_and_columns(env: Env, scan_rows: list[bytes]) -> None:
    assert keys(scan(env, data_pb2.ScanSpec(start_row=b"s05", stop_row=b"s08"))[0]) == scan_rows[5:8]
    assert keys(scan(env, data_pb2.ScanSpec(prefix=b"s1"))[0]) == scan_rows[10:]
    reverse = scan(env, data_pb2.ScanSpec(start_row=b"s07", stop_row=b"s03", reverse=True))[0]
    assert keys(reverse) == scan_rows[7:3:-1]
    limited, replies = scan(env, data_pb2.ScanSpec(start_row=b"s", limit=4), rows=3)
    assert keys(limited) == scan_rows[:4] and replies[-1].scan_done and not replies[-1].more_in_region
    narrow = scan(env, data_pb2.ScanSpec(prefix=b"s0", columns=[b"f:b"]))[0]
    assert {c.qualifier for r in narrow for c in r.cells} == {b"b"} and len(narrow) == 10


def test_batching_cuts_wide_rows_into_partial_pieces(env: Env, scan_rows: list[bytes]) -> None:
    rows, _ = scan(env, data_pb2.ScanSpec(prefix=b"s0", batching=2), rows=5)
    assert len(rows) == 20  # ten rows of three cells, in pieces of two and one
    assert [(r.row, len(r.cells), r.partial) for r in rows[:4]] == [
        (b"s00", 2, True),
        (b"s00", 1, False),
        (b"s01", 2, True),
        (b"s01", 1, False),
    ]


def test_filters_are_evaluated_on_the_server_and_one_that_ends_the_scan_says_so(
    env: Env, scan_rows: list[bytes]
) -> None:
    value = scan(
        env, data_pb2.ScanSpec(start_row=b"s", stop_row=b"t", filter="ValueFilter(=, 'substring:s03/b')")
    )[0]
    assert [(r.row, [c.qualifier for c in r.cells]) for r in value] == [(b"s03", [b"b"])]
    key_only = scan(env, data_pb2.ScanSpec(prefix=b"s0", filter="KeyOnlyFilter() AND FirstKeyOnlyFilter()"))[
        0
    ]
    assert all(len(r.cells) == 1 and r.cells[0].value == b"" for r in key_only) and len(key_only) == 10
    stopped, replies = scan(env, data_pb2.ScanSpec(start_row=b"s", filter="InclusiveStopFilter('s02')"))
    assert keys(stopped) == scan_rows[:3] and replies[-1].scan_done


def test_a_closed_scanner_is_not_found_and_a_bad_filter_says_where(env: Env, scan_rows: list[bytes]) -> None:
    region = env.region_of(b"s00")
    stub = env.server_stub(region)
    opened = stub.OpenScanner(
        data_pb2.OpenScannerRequest(region_id=region.region_id, scan=data_pb2.ScanSpec(prefix=b"s"), rows=1),
        timeout=10,
    )
    assert opened.more_in_region and opened.scanner_id
    stub.CloseScanner(data_pb2.CloseScannerRequest(scanner_id=opened.scanner_id), timeout=10)
    stub.CloseScanner(data_pb2.CloseScannerRequest(scanner_id=opened.scanner_id), timeout=10)  # again: fine
    with pytest.raises(grpc.RpcError) as gone:
        stub.ScannerNext(data_pb2.ScannerNextRequest(scanner_id=opened.scanner_id), timeout=10)
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND and error_name(gone.value) == "ScannerNotFound"
    with pytest.raises(grpc.RpcError) as bad:
        stub.OpenScanner(
            data_pb2.OpenScannerRequest(
                region_id=region.region_id, scan=data_pb2.ScanSpec(filter="ValueFilter(=, 'nocolon')")
            ),
            timeout=10,
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT and error_name(bad.value) == "FilterSyntax"
    assert "offset" in (bad.value.details() or ""), bad.value.details()


def test_an_idle_scanner_expires_and_open_scanners_are_bounded(env: Env, scan_rows: list[bytes]) -> None:
    region = env.region_of(b"s00")
    stub = env.server_stub(region)
    server = next(s for s in env.cluster.servers if s.address == region.server.address)

    def open_one() -> int:
        reply = stub.OpenScanner(
            data_pb2.OpenScannerRequest(
                region_id=region.region_id, scan=data_pb2.ScanSpec(prefix=b"s"), rows=1
            ),
            timeout=10,
        )
        assert reply.more_in_region
        return reply.scanner_id

    def expiries() -> int:
        return len([e for e in server.events() if e.get("event") == "scanners_expired"])

    before = expiries()
    idle = open_one()
    wait_until(lambda: expiries() > before, 10 * SCANNER_TIMEOUT_S, "an idle scanner to expire")
    with pytest.raises(grpc.RpcError) as expired:
        stub.ScannerNext(data_pb2.ScannerNextRequest(scanner_id=idle), timeout=10)
    assert error_name(expired.value) == "ScannerNotFound" and "expired" in (expired.value.details() or "")

    held = [open_one() for _ in range(MAX_SCANNERS)]
    try:
        with pytest.raises(grpc.RpcError) as bounded:
            open_one()
        assert bounded.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_name(bounded.value) == "TooManyScanners", bounded.value
        assert f"has {MAX_SCANNERS} open scanners" in (bounded.value.details() or "")
    finally:
        for scanner_id in held:
            stub.CloseScanner(data_pb2.CloseScannerRequest(scanner_id=scanner_id), timeout=10)
    stub.CloseScanner(data_pb2.CloseScannerRequest(scanner_id=open_one()), timeout=10)


# ---- compaction ----


def test_compaction_while_serving_removes_old_versions_and_loses_no_write(env: Env) -> None:
    row_count = 200
    rows = [b"c%04d" % i for i in range(row_count)]
    region = env.region_of(rows[0])
    stub = env.server_stub(region)

    def write(ts: int, which: Sequence[bytes]) -> None:
        request = data_pb2.MutateRequest(
            regions=[
                data_pb2.RegionMutations(
                    region_id=region.region_id,
                    rows=[
                        data_pb2.RowMutation(row=r, mutations=[put(b"f", b"q", b"%d" % ts, ts)])
                        for r in which
                    ],
                )
            ]
        )
        (outcome,) = stub.Mutate(request, timeout=10).regions
        assert not outcome.HasField("error") and not outcome.row_errors, outcome

    for ts in range(1, 7):  # six versions of each, three kept (max_versions 3)
        write(ts, rows)
    admin_stub = env.server_stub(region, who="admin")
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        ts = 100
        while not stop.is_set():
            write(ts, rows[:10])
            written.append(ts)
            ts += 1

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        writer = pool.submit(keep_writing)
        try:
            answer = admin_stub.Compact(data_pb2.CompactRequest(region_ids=[region.region_id]), timeout=60)
        finally:
            stop.set()
        writer.result(timeout=30)
    (result,) = answer.regions
    assert not result.HasField("error"), result
    assert result.cells_after < result.cells_before, result
    assert result.bytes_before > 0 and result.bytes_after > 0, result
    newest = written[-1] if written else 6
    assert get(env, rows[0], [b"f:q"], max_versions=10)[0][2] == newest
    assert [c[2] for c in get(env, rows[-1], [b"f:q"], max_versions=10)] == [6, 5, 4]
    with pytest.raises(grpc.RpcError) as denied:
        env.server_stub(region).Compact(data_pb2.CompactRequest(region_ids=[region.region_id]), timeout=10)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED


# ---- the master's side: families with the opens, destinations with the closes ----


def test_a_family_added_by_modify_table_is_writable_after_the_reopen(env: Env) -> None:
    region = env.region_of(b"family-row")
    request = data_pb2.MutateRequest(
        regions=[
            data_pb2.RegionMutations(
                region_id=region.region_id,
                rows=[data_pb2.RowMutation(row=b"family-row", mutations=[put(b"h", b"q", b"new family")])],
            )
        ]
    )
    (before,) = env.server_stub(region).Mutate(request, timeout=10).regions
    assert before.row_errors[0].code == "NoSuchFamily", before
    env.cluster.admin.add_family(TABLE, "h", timeout=60)
    env.cluster.wait_open(TABLE, 2)
    mutate(env, b"family-row", put(b"h", b"q", b"new family"))
    assert [c[3] for c in get(env, b"family-row", [b"h"])] == [b"new family"]


def test_after_a_move_the_old_server_answers_moved_with_the_destination(env: Env) -> None:
    row = b"moving"
    mutate(env, row, put(b"f", b"q", b"before the move"))
    region = env.region_of(row)
    source = region.server
    old_stub = env.server_stub(region)
    scanner = old_stub.OpenScanner(
        data_pb2.OpenScannerRequest(region_id=region.region_id, scan=data_pb2.ScanSpec(), rows=1), timeout=10
    )
    assert scanner.more_in_region
    target = next(s.server for s in env.cluster.status().servers if s.server != source)
    env.cluster.admin.move(region.region_id, target, timeout=60)
    moved = env.region_of(row)
    assert moved.server == target, moved

    request = data_pb2.GetRequest(regions=[data_pb2.RegionRows(region_id=region.region_id, rows=[row])])
    (refused,) = old_stub.Get(request, timeout=10).regions
    assert reason(refused.error) == "MOVED", refused.error
    assert refused.error.moved_to == common_pb2.ServerName(
        host=target.host, port=target.port, startcode=target.startcode
    )
    assert str(target) in refused.error.message
    gone = old_stub.ScannerNext(data_pb2.ScannerNextRequest(scanner_id=scanner.scanner_id), timeout=10)
    assert reason(gone.error) == "MOVED" and gone.scanner_id == 0, gone
    assert [c[3] for c in get(env, row)] == [b"before the move"]  # served by the new owner


def test_a_region_being_opened_is_answered_opening(env: Env) -> None:
    """The test plays the master: it orders a server to open a region while the real master is paused, so
    the server's OPENED report cannot be accepted and the region stays opening there."""
    cluster = env.cluster
    status = cluster.status()
    server = status.servers[0].server
    address = f"{server.host}:{server.port}"
    region_id = 10**12
    order = regionserver_pb2.ExecuteProceduresRequest(
        target=common_pb2.ServerName(host=server.host, port=server.port, startcode=server.startcode),
        master_epoch=status.master_epoch,
        opens=[
            regionserver_pb2.TableOpens(
                table=TABLE,
                region_ids=[region_id],
                proc_ids=[10**12],
                open_seq_nums=[10**12],
                start_keys=[b""],
                end_keys=[b""],
            )
        ],
    )
    master = cluster.active_master()
    assert master is not None
    master.pause()
    try:
        with open_channel(address, who=tls.NODE) as channel:
            regionserver_pb2_grpc.RegionServerAdminStub(channel).ExecuteProcedures(order, timeout=10)
        request = data_pb2.GetRequest(regions=[data_pb2.RegionRows(region_id=region_id, rows=[b"a"])])
        (answer,) = env.stub(address).Get(request, timeout=10).regions
        assert reason(answer.error) == "OPENING", answer.error
        assert "retry shortly" in answer.error.message
    finally:
        master.resume()

    # The master rejects the report of an open it never ordered: the server drops the region.
    def dropped() -> bool:
        (again,) = env.stub(address).Get(request, timeout=10).regions
        return reason(again.error) == "NOT_SERVING"

    wait_until(dropped, 30, "the server to drop the region the master never ordered open")


# ---- the store fences a paused old owner (issue 8) ----


def committing(base: str) -> bool:
    """Whether a thread of the server at `base` (its /stacks page) is in a region store's commit."""
    status, stacks = http_get(base + "/stacks")
    threads = stacks.split("asyncio tasks")[0].split("--- thread ")
    return status == 200 and any("region_store.py" in t and ", in apply\n" in t for t in threads)


def loop_blocked(base: str) -> bool:
    """Whether the server at `base` no longer answers its status page within half a second (its event
    loop is held up)."""
    try:
        http_get(base + "/stacks", timeout=0.5)
    except OSError:  # a timeout (URLError wraps it)
        return True
    return False


@pytest.mark.parametrize("small_commits", ["thread", "auto"])
def test_paused_old_owners_write_after_its_region_moved_is_refused_by_the_store(
    clusters: Clusters, tmp_path: Path, small_commits: str
) -> None:
    """The old owner takes a write, passes its lease check, and is paused (SIGSTOP) before its commit can
    reach the store: the test holds the store's LMDB write lock meanwhile. Its lease runs out, the master
    reopens the region elsewhere (that open claims the store), the old owner wakes and commits: the store
    refuses the write (FENCED), and the client's retry on the new owner is written. The same whether the
    old owner's commit waits in a commit thread (`--small-commits thread`) or on its event loop (`auto`,
    where the loop's commits are quick: the first small one is)."""
    # A lease (3 s) longer than the test holds the lock (about a second): the new owner's open, which waits
    # for the lock too if it comes that early, must not cost that server its lease.
    cluster = clusters.start(
        servers=2,
        master_args=("--heartbeat-ms", "200", "--lease-ms", "3000"),
        # The store's own commit is what this test pauses; with the write-ahead log the same write is
        # fenced by the log's seal (tests/test_wal_store.py, tests/test_table_failures.py).
        server_args=("--small-commits", small_commits, "--wal", "off"),
    )
    cluster.admin.create_table(TABLE, ["f"], num_regions=1)
    (region,) = cluster.wait_open(TABLE, 1)
    old = next(s for s in cluster.servers if s.address == region.server.address)
    row = b"row"
    with open_channel(old.address, who="app") as channel:
        stub = data_pb2_grpc.RegionDataStub(channel)

        def write(target: Any, value: bytes) -> data_pb2.RegionOutcome:
            request = data_pb2.MutateRequest(
                regions=[
                    data_pb2.RegionMutations(
                        region_id=region.region_id,
                        rows=[data_pb2.RowMutation(row=row, mutations=[put(b"f", b"q", value)])],
                    )
                ]
            )
            (outcome,) = target.Mutate(request, timeout=60).regions
            return outcome

        assert not write(stub, b"first").HasField("error")  # the store exists, claimed by the old owner
        base = http_url(old)
        startcode = incarnation(old).startcode
        path = region_dir(cluster.rootdir, TABLE, region.region_id)
        lock_holder = lmdb.open(str(path), max_dbs=3)
        txn = lock_holder.begin(write=True)  # LMDB's writer lock, across processes
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            try:
                late = pool.submit(write, stub, b"written by the old owner after the move")
                if small_commits == "thread":
                    # The old owner's commit now waits for the lock in a commit thread; the event loop,
                    # which awaits it, keeps answering.
                    wait_until(lambda: committing(base), 30, "the old owner's commit to wait for the lock")
                else:  # it waits on the event loop, which answers nothing meanwhile
                    wait_until(lambda: loop_blocked(base), 30, "the old owner's loop to wait for the lock")
                # Released only once every thread of the old owner is stopped (pause() waits for that):
                # its commit thread, woken by the release, must not take the lock before it stops.
                old.pause()
            finally:
                txn.abort()
                lock_holder.close()
            master = cluster.active_master()
            assert master is not None
            wait_until(lambda: declared_dead(master, startcode), 30, "the paused old owner declared dead")

            def reopened() -> Any:
                location = cluster.admin.get_region(region.region_id)
                done = location.state.name == "OPEN" and location.server.port != old.port
                return location if done and not location.proc_id else None

            new_location = wait_until(reopened, 30, "the region reopened on the other server")
            old.resume()
            try:
                outcome: data_pb2.RegionOutcome | None = late.result(timeout=60)
            except grpc.RpcError:  # the old owner may exit (declared dead) before its answer leaves
                outcome = None
        if outcome is not None:
            assert reason(outcome.error) == "FENCED", outcome
            assert "write refused" in outcome.error.message and "owned by" in outcome.error.message
    wait_until(
        lambda: events(old, "region_commit_failed"),
        30,
        "the old owner's refused commit",
        context=old.log_tail,
    )
    (failed,) = events(old, "region_commit_failed")
    assert "write refused" in failed["error"], failed
    new_address = f"{new_location.server.host}:{new_location.server.port}"
    with open_channel(new_address, who="app") as channel:
        new_stub = data_pb2_grpc.RegionDataStub(channel)

        def value() -> bytes:
            request = data_pb2.GetRequest(
                regions=[data_pb2.RegionRows(region_id=region.region_id, rows=[row])]
            )
            (result,) = new_stub.Get(request, timeout=10).regions
            assert not result.HasField("error"), result.error
            (cell,) = result.rows[0].cells
            return cell.value

        assert value() == b"first"  # the old owner's late write is not there
        assert not write(new_stub, b"the retry, on the new owner").HasField("error")
        assert value() == b"the retry, on the new owner"


def test_a_scanner_continues_from_a_region_boundary_and_refuses_a_start_beyond_its_region(
    env: Env, scan_rows: list[bytes]
) -> None:
    low, high = env.regions()
    mutate(env, b"l1", put(b"f", b"q", b"low 1"))
    mutate(env, b"l2", put(b"f", b"q", b"low 2"))

    def open_scan(region: Any, spec: data_pb2.ScanSpec) -> data_pb2.ScanResponse:
        request = data_pb2.OpenScannerRequest(region_id=region.region_id, scan=spec, rows=10_000)
        return env.server_stub(region).OpenScanner(request, timeout=10)

    # Reversed, the next region's scanner starts at the boundary (the low region's end key, exclusive).
    backwards = open_scan(low, data_pb2.ScanSpec(start_row=SPLIT, stop_row=b"l0", reverse=True))
    assert [r.row for r in backwards.rows] == [b"l2", b"l1"] and not backwards.more_in_region
    forward = open_scan(high, data_pb2.ScanSpec(start_row=SPLIT, prefix=b"s0"))
    assert [r.row for r in forward.rows] == scan_rows[:10] and forward.scanner_id == 0
    beyond = open_scan(low, data_pb2.ScanSpec(start_row=b"s00"))
    assert reason(beyond.error) == "NOT_SERVING" and "outside region" in beyond.error.message, beyond
    before = open_scan(high, data_pb2.ScanSpec(start_row=b"a", reverse=True))
    assert reason(before.error) == "NOT_SERVING", before
