"""The router's retry loop, driven by a fake master (its LocateRegions answers) and fake RegionServers behind
fake channels: which RPCs go where, what each refusal leads to, and what the caller sees at the deadline.
(End to end against real RegionServers, with regions really moving: tests/test_table_failures.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from client import routing
from client.errors import DataTimeout, FilterSyntax, MasterUnavailable
from client.operations import GetRows, Kind, MutateRows, Mutation, RowChange
from client.routing import Router
from client.scanning import Scan, Scanner
from regent.proto import common_pb2, data_pb2, master_pb2
from tests.clocks import Clock

Handler = Callable[[str, Any], Any]


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str = "", name: str | None = None) -> None:
        self._code, self._details, self._name = code, details, name

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return (("regent-error", self._name),) if self._name else ()


class FakeFuture:
    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call

    def result(self) -> Any:
        return self._call()

    def cancel(self) -> bool:
        return True


class FakeChannel:
    """What data_pb2_grpc.RegionDataStub needs of a channel; every call goes to `handler`."""

    def __init__(self, address: str, cluster: FakeCluster) -> None:
        self.address, self.cluster = address, cluster

    def unary_unary(self, path: str, **_: Any) -> Any:
        method = path.rsplit("/", 1)[1]
        cluster, address = self.cluster, self.address

        class Callable_:
            def future(self, request: Any, timeout: float | None = None) -> FakeFuture:
                cluster.sent.append((address, method, request))
                return FakeFuture(lambda: cluster.servers[address](method, request))

            def __call__(self, request: Any, timeout: float | None = None) -> Any:
                return self.future(request, timeout).result()

        return Callable_()

    def close(self) -> None:
        pass


class FakeCluster:
    """Meta as a list of (region_id, start, end, server); servers as handlers by address."""

    def __init__(self) -> None:
        self.meta: list[tuple[int, bytes, bytes, str]] = []
        self.servers: dict[str, Handler] = {}
        self.sent: list[tuple[str, str, Any]] = []
        self.lookups = 0

    def master_call(self, method: str, request: Any, timeout: float) -> Any:
        assert method == "LocateRegions"
        self.lookups += 1
        found = [m for m in self.meta if m[1] <= request.row and (not m[2] or request.row < m[2])]
        if not found:
            return master_pb2.LocateRegionsResponse()
        i = self.meta.index(found[0])
        count = max(1, request.count)
        run = (
            self.meta[max(0, i - count + 1) : i + 1][::-1] if request.backwards else self.meta[i : i + count]
        )
        return master_pb2.LocateRegionsResponse(
            regions=[
                master_pb2.RegionLocation(
                    info=common_pb2.RegionInfo(region_id=rid, table="t", start_key=s, end_key=e),
                    state=common_pb2.OPEN,
                    server=common_pb2.ServerName(host=srv.split(":")[0], port=int(srv.split(":")[1])),
                )
                for rid, s, e, srv in run
            ]
        )

    def router(self, rpc_timeout: float = 1.0) -> Router:
        return Router(self.master_call, lambda address: FakeChannel(address, self), rpc_timeout=rpc_timeout)


def serving(region_ids: set[int], refuse: dict[int, data_pb2.RegionError] | None = None) -> Handler:
    """A RegionServer that serves `region_ids` (each row read comes back with one cell holding its key)."""

    def handle(method: str, request: Any) -> Any:
        if method == "Get":
            out = data_pb2.GetResponse()
            for part in request.regions:
                result = out.regions.add(region_id=part.region_id)
                error = (refuse or {}).get(part.region_id)
                if error is None and part.region_id not in region_ids:
                    error = data_pb2.RegionError(reason=data_pb2.RegionError.NOT_SERVING)
                if error is not None:
                    result.error.CopyFrom(error)
                    continue
                for row in part.rows:
                    result.rows.add(row=row, cells=[data_pb2.Cell(family=b"f", qualifier=b"q", value=row)])
            return out
        if method == "Mutate":
            out = data_pb2.MutateResponse()
            for part in request.regions:
                result = out.regions.add(region_id=part.region_id)
                for i, change in enumerate(part.rows):
                    if change.row == b"bad":
                        result.row_errors[i].CopyFrom(
                            data_pb2.RowError(code="RowTooLong", message="too long")
                        )
            return out
        raise AssertionError(method)

    return handle


def value_of(cells: list[Any]) -> bytes | None:
    return cells[0].value if cells else None


def get(router: Router, rows: list[bytes], timeout: float = 5.0) -> list[bytes | None]:
    results = router.execute("t", GetRows([], 1, None), rows, time.monotonic() + timeout)
    return [value_of(cells) for cells in results]


def test_a_multi_row_get_sends_one_rpc_per_server_with_its_regions_grouped() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"g", "a:1"), (2, b"g", b"p", "b:2"), (3, b"p", b"", "a:1")]
    fake.servers = {"a:1": serving({1, 3}), "b:2": serving({2})}
    rows = [b"z", b"a", b"h", b"q", b"b"]
    assert get(fake.router(), rows) == rows
    assert fake.lookups == 1  # one lookup prefetched all three regions
    assert sorted((addr, sorted(p.region_id for p in req.regions)) for addr, _, req in fake.sent) == [
        ("a:1", [1, 3]),
        ("b:2", [2]),
    ]


def test_moved_with_a_destination_is_retried_there_at_once_without_asking_the_master() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    moved = data_pb2.RegionError(
        reason=data_pb2.RegionError.MOVED, moved_to=common_pb2.ServerName(host="b", port=2)
    )
    fake.servers = {"a:1": serving(set(), {1: moved}), "b:2": serving({1})}
    started = time.monotonic()
    assert get(fake.router(), [b"x"]) == [b"x"]
    assert [addr for addr, _, _ in fake.sent] == ["a:1", "b:2"]
    assert fake.lookups == 1
    assert time.monotonic() - started < 0.09  # no pause: the client knew where to go


def test_a_dead_server_is_forgotten_and_the_rows_go_where_the_master_now_says() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"m", "a:1"), (2, b"m", b"", "b:2")]

    def dead(method: str, request: Any) -> Any:
        fake.meta[0] = (1, b"", b"m", "b:2")  # the master reassigns the dead server's region meanwhile
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    fake.servers = {"a:1": dead, "b:2": serving({1, 2})}
    router = fake.router()
    assert get(router, [b"a", b"z"]) == [b"a", b"z"]
    # Only the refused row was sent again: b"z" was done in the first round.
    second = [req for addr, _, req in fake.sent[2:]]
    assert [list(p.rows) for req in second for p in req.regions] == [[b"a"]]
    assert all(r.server == "b:2" for r in router.locations.table("t").regions())


def test_a_split_parent_is_replaced_by_its_daughters() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    split = data_pb2.RegionError(reason=data_pb2.RegionError.SPLIT)

    def parent_gone(method: str, request: Any) -> Any:
        fake.meta = [(2, b"", b"k", "a:1"), (3, b"k", b"", "b:2")]
        fake.servers["a:1"] = serving({2})
        return serving(set(), {1: split})(method, request)

    fake.servers = {"a:1": parent_gone, "b:2": serving({3})}
    router = fake.router()
    assert get(router, [b"c", b"x"]) == [b"c", b"x"]
    assert [r.region_id for r in router.locations.table("t").regions()] == [2, 3]


def test_the_deadline_raises_naming_the_table_the_rows_and_the_last_cause() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    opening = data_pb2.RegionError(reason=data_pb2.RegionError.OPENING, message="opening here")
    fake.servers = {"a:1": serving(set(), {1: opening})}
    with pytest.raises(DataTimeout) as info:
        get(fake.router(), [b"r1", b"r2"], timeout=0.5)
    error = info.value
    assert error.table == "t" and error.rows == (b"r1", b"r2")
    assert "OPENING" in error.cause and "opening here" in str(error) and "'t'" in str(error)
    assert isinstance(error, TimeoutError)


def test_no_master_until_the_deadline_is_the_data_calls_timeout_naming_the_master() -> None:
    # The region's server died and the masters are failing over: the lookup's MasterUnavailable (its
    # share of the deadline spent) is the data call's deadline running out, raised as such (callers such
    # as `regent verify linked-list generate` retry a DataTimeout).
    def no_master(method: str, request: Any, timeout: float) -> Any:
        raise MasterUnavailable(f"no active master reachable within {timeout:.3g}s (tried m:1): m:1: refused")

    router = Router(no_master, lambda address: FakeChannel(address, FakeCluster()), rpc_timeout=1.0)
    with pytest.raises(DataTimeout) as info:
        get(router, [b"r1"], timeout=0.3)
    error = info.value
    assert error.table == "t" and error.rows == (b"r1",) and "m:1: refused" in error.cause
    with pytest.raises(DataTimeout, match="no active master"):
        scan_keys(router, Scan(), timeout=0.3)


def test_a_refusal_of_the_request_itself_is_raised_at_once_as_its_named_error() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]

    def refuse(method: str, request: Any) -> Any:
        raise FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad filter at offset 3", "FilterSyntax")

    fake.servers = {"a:1": refuse}
    started = time.monotonic()
    with pytest.raises(FilterSyntax, match="offset 3"):
        get(fake.router(), [b"x"])
    assert time.monotonic() - started < 1.0
    assert len(fake.sent) == 1


# ---- one row whose region is cached: one call without the rounds (Router._one), the same outcomes ----


def warmed(fake: FakeCluster) -> Router:
    """A router whose cache holds region 1 on a:1 (one read done), the sent calls forgotten."""
    router = fake.router()
    assert get(router, [b"x"]) == [b"x"]
    fake.sent.clear()
    fake.lookups = 0
    return router


def test_a_cached_single_row_is_one_call_and_asks_the_master_nothing() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1})}
    router = warmed(fake)
    assert get(router, [b"y"]) == [b"y"]
    put = (Mutation(Kind.PUT, b"f", b"q", b"v"),)
    assert router.execute("t", MutateRows(), [RowChange(b"y", put)], time.monotonic() + 5) == [None]
    assert [(addr, method) for addr, method, _ in fake.sent] == [("a:1", "Get"), ("a:1", "Mutate")]
    assert fake.lookups == 0


def test_a_cached_single_row_that_moved_goes_to_the_destination_at_once() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1}), "b:2": serving({1})}
    router = warmed(fake)
    moved = data_pb2.RegionError(
        reason=data_pb2.RegionError.MOVED, moved_to=common_pb2.ServerName(host="b", port=2)
    )
    fake.servers["a:1"] = serving(set(), {1: moved})
    assert get(router, [b"y"]) == [b"y"]
    assert [addr for addr, _, _ in fake.sent] == ["a:1", "b:2"]
    assert fake.lookups == 0
    assert [r.server for r in router.locations.table("t").regions()] == ["b:2"]


def test_a_cached_single_row_whose_server_died_is_looked_up_again() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1}), "b:2": serving({1})}
    router = warmed(fake)

    def dead(method: str, request: Any) -> Any:
        fake.meta[0] = (1, b"", b"", "b:2")
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")

    fake.servers["a:1"] = dead
    assert get(router, [b"y"]) == [b"y"]
    assert [addr for addr, _, _ in fake.sent] == ["a:1", "b:2"]
    assert fake.lookups == 1


def test_a_cached_single_row_refused_as_a_request_raises_at_once() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1})}
    router = warmed(fake)

    def refuse(method: str, request: Any) -> Any:
        raise FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad filter at offset 3", "FilterSyntax")

    fake.servers["a:1"] = refuse
    with pytest.raises(FilterSyntax, match="offset 3"):
        get(router, [b"y"])
    assert len(fake.sent) == 1


def test_a_cached_single_row_never_served_raises_at_the_deadline_with_the_cause() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1})}
    router = warmed(fake)
    opening = data_pb2.RegionError(reason=data_pb2.RegionError.OPENING, message="opening here")
    fake.servers["a:1"] = serving(set(), {1: opening})
    with pytest.raises(DataTimeout) as info:
        get(router, [b"y"], timeout=0.5)
    assert info.value.rows == (b"y",) and "OPENING" in info.value.cause


def test_a_cached_single_rows_server_that_outlasts_the_deadline_is_named_as_the_cause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1})}
    router = warmed(fake)
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.now += seconds

    monkeypatch.setattr(routing, "time", SimpleNamespace(monotonic=clock, sleep=sleep))

    def hangs(method: str, request: Any) -> Any:
        clock.now += 5.0  # the whole deadline spent in this one call
        raise FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")

    fake.servers["a:1"] = hangs
    with pytest.raises(DataTimeout) as info:
        router.execute("t", GetRows([], 1, None), [b"y"], clock.now + 1.0)
    assert "server a:1: DEADLINE_EXCEEDED" in info.value.cause
    assert len(fake.sent) == 1


def test_refused_rows_of_a_mutation_come_back_per_row_and_are_not_retried() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    fake.servers = {"a:1": serving({1})}
    put = (Mutation(Kind.PUT, b"f", b"q", b"v"),)
    changes = [RowChange(b"good", put), RowChange(b"bad", put)]
    results = fake.router().execute("t", MutateRows(), changes, time.monotonic() + 5)
    assert results[0] is None
    assert type(results[1]).__name__ == "RowTooLong" and results[1].row == b"bad"  # type: ignore[union-attr]
    assert len(fake.sent) == 1


# ---- scans ----


class ScanningServer:
    """Serves scans of `rows` over the regions of `fake.meta` it is given; the scanners it has forgotten
    (see `forget_after`) answer ScannerNotFound, as an expired one does."""

    def __init__(self, fake: FakeCluster, rows: list[bytes], forget_after: int = 0) -> None:
        self.fake, self.rows = fake, sorted(rows)
        self.scanners: dict[int, list[bytes]] = {}
        self.pages = 0
        self.forget_after = forget_after
        self.opened_at: list[bytes] = []

    def __call__(self, method: str, request: Any) -> Any:
        if method == "OpenScanner":
            _, start, end, _ = next(m for m in self.fake.meta if m[0] == request.region_id)
            spec = request.scan
            self.opened_at.append(spec.start_row)
            inside = [r for r in self.rows if start <= r and (not end or r < end)]
            if spec.reverse:
                left = [r for r in reversed(inside) if not spec.start_row or r <= spec.start_row]
            else:
                left = [r for r in inside if r >= spec.start_row]
            scanner_id = len(self.scanners) + 1
            self.scanners[scanner_id] = left
            return self.page(scanner_id, request.rows)
        if method == "ScannerNext":
            self.pages += 1
            if self.forget_after and self.pages == self.forget_after:
                self.scanners.pop(request.scanner_id)
            if request.scanner_id not in self.scanners:
                raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "no such scanner", "ScannerNotFound")
            return self.page(request.scanner_id, request.rows)
        if method == "CloseScanner":
            return data_pb2.CloseScannerResponse()
        raise AssertionError(method)

    def page(self, scanner_id: int, count: int) -> data_pb2.ScanResponse:
        left = self.scanners[scanner_id]
        taken, self.scanners[scanner_id] = left[:count], left[count:]
        more = bool(self.scanners[scanner_id])
        return data_pb2.ScanResponse(
            scanner_id=scanner_id if more else 0,
            rows=[
                data_pb2.Row(row=r, cells=[data_pb2.Cell(family=b"f", qualifier=b"q", value=r)])
                for r in taken
            ],
            more_in_region=more,
        )


def scan_keys(router: Router, scan: Scan, timeout: float = 5.0) -> list[bytes]:
    return [piece.row for piece in Scanner(router, "t", scan, timeout)]


@pytest.mark.parametrize("reverse", [False, True])
def test_a_scan_reopened_after_its_scanner_expired_returns_every_row_once(reverse: bool) -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"k", "a:1"), (2, b"k", b"", "a:1")]
    rows = [b"%02d" % i for i in range(0, 40, 3)] + [b"k", b"k0", b"zz"]
    server = ScanningServer(fake, rows, forget_after=2)
    fake.servers = {"a:1": server}
    got = scan_keys(fake.router(), Scan(reverse=reverse, caching=2))
    assert got == sorted(rows, reverse=reverse)
    reopened = server.opened_at[2] if not reverse else server.opened_at[1]
    assert reopened  # the reopen started where the scan was, not from the start


def test_a_scan_honours_its_limit_across_regions() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"b", "a:1"), (2, b"b", b"c", "a:1"), (3, b"c", b"", "a:1")]
    fake.servers = {"a:1": ScanningServer(fake, [b"a1", b"a2", b"b1", b"b2", b"c1"])}
    assert scan_keys(fake.router(), Scan(limit=3, caching=10)) == [b"a1", b"a2", b"b1"]
    assert scan_keys(fake.router(), Scan(limit=4, caching=1, reverse=True)) == [b"c1", b"b2", b"b1", b"a2"]


def test_a_scan_whose_region_never_opens_raises_at_its_deadline() -> None:
    fake = FakeCluster()
    fake.meta = [(1, b"", b"", "a:1")]
    opening = data_pb2.ScanResponse(error=data_pb2.RegionError(reason=data_pb2.RegionError.OPENING))
    fake.servers = {"a:1": lambda method, request: opening}
    started = time.monotonic()
    with pytest.raises(DataTimeout, match="OPENING"):
        scan_keys(fake.router(), Scan(), timeout=0.6)
    assert time.monotonic() - started < 3.0
