"""Opens of regions whose store exists: `claiming` in Hosting until the claim's result comes back
(regionserver.claims runs the claims in threads), and every race around it: a close, a newer open, a
duplicate, a stop while claims are in flight, a data request meanwhile. Hosting is pure: the claims'
results are made up here, except in the last tests, where regionserver.claims claims real LMDB stores."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from meta import ColumnFamily, ServerName
from regent.proto import data_pb2
from regionserver.claims import Claims
from regionserver.data import Claim, Put, RegionStore, RowMutation
from regionserver.data.environments import region_dir, regions_with_store
from regionserver.data.region_store import PROCESS_ENVIRONMENTS
from regionserver.data_service import RegionDataService
from regionserver.hosting import CLOSED, FAILED_OPEN, OPENED, HostedRegion, Hosting, OpenFailed
from regionserver.load import LoadCounters
from regionserver.scanners import Scanners
from regionserver.store import Stores

SERVER = ServerName("127.0.0.1", 16020, 1)
FAMILIES = {b"f": ColumnFamily("f")}


def open_with_store(hosting: Hosting, rid: int, proc: int, seq: int) -> tuple[int, int]:
    return hosting.open_many("t", [rid], [proc], [seq], [b""], [b""], with_store={rid})


def claim_of(hosting: Hosting) -> HostedRegion:
    (region,) = hosting.take_claims()
    region.store = object()  # what a successful claim sets (a RegionData)
    return region


def test_an_open_with_a_store_reports_nothing_until_its_claim_succeeds() -> None:
    hosting = Hosting()
    assert hosting.open_many("t", [1, 2], [7, 8], [10, 11], [b"", b"a"], [b"a", b""], with_store={2}) == (
        1 + 1,
        0,
    )
    assert 1 in hosting.opening and 2 in hosting.claiming and 2 not in hosting.opening
    assert hosting.take_report(10) == [(OPENED, [1], [7], [10])]  # the one without a store at once
    assert hosting.held() == [(1, 10)] and hosting.check_digest()  # a claim in flight is not held yet
    region = claim_of(hosting)
    assert hosting.take_claims() == []  # taken once
    opened, stale = hosting.claimed([(region, None)])
    assert opened == [region] and stale == [] and not hosting.claiming
    assert hosting.take_report(10) == [(OPENED, [2], [8], [11])]
    assert hosting.opening[2] is region and hosting.check_digest()


def test_a_failed_claim_is_reported_with_the_newer_open_that_fenced_it_and_not_kept_as_a_duplicate() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    (region,) = hosting.take_claims()
    opened, stale = hosting.claimed([(region, OpenFailed("owned by a newer open", fenced_by=12))])
    assert opened == stale == [] and not hosting.claiming and not hosting.opening
    assert hosting.take_report(10) == [(FAILED_OPEN, [1], [7], [12])]
    assert open_with_store(hosting, 1, 7, 10) == (1, 0)  # the master's retry of the same order: carried out


def test_a_close_while_the_claim_is_in_flight_makes_its_result_stale() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    region = claim_of(hosting)  # the claim runs in a thread ...
    assert hosting.close_many([1], [9]) == (1, 0)  # ... when the close comes
    assert not hosting.claiming and hosting.take_report(10) == [(CLOSED, [1], [9], [0])]
    opened, stale = hosting.claimed([(region, None)])
    assert opened == [] and stale == [region]  # the caller closes the store it claimed
    assert 1 not in hosting.opening and 1 not in hosting.online and not len(hosting.outbox)
    assert hosting.check_digest()


def test_a_claim_not_yet_taken_is_not_carried_out_once_its_region_is_closed() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    hosting.close_many([1], [9])  # the same request, or one handled before the claims were started
    assert hosting.take_claims() == []


def test_a_close_older_than_the_claims_open_is_ignored() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    assert hosting.close_many([1], [5]) == (0, 1)  # a late repeat of a close from before this open
    assert 1 in hosting.claiming


def test_a_newer_open_while_an_older_claim_is_in_flight_wins() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    older = claim_of(hosting)
    assert open_with_store(hosting, 1, 7, 12) == (1, 0)  # the master retried the open: seq 12
    newer = claim_of(hosting)
    assert hosting.claiming[1] is newer
    assert hosting.claimed([(older, None)]) == ([], [older])  # the older claim comes back: stale
    assert hosting.claimed([(newer, None)]) == ([newer], [])
    assert hosting.take_report(10) == [(OPENED, [1], [7], [12])]  # only the newer open is reported
    assert open_with_store(hosting, 1, 7, 10) == (0, 1)  # the older order again: superseded
    assert hosting.check_digest()


def test_an_older_open_arriving_while_a_newer_claim_is_in_flight_is_a_duplicate() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 12)
    assert open_with_store(hosting, 1, 7, 10) == (0, 1)
    assert hosting.claiming[1].open_seq_num == 12 and len(hosting.take_claims()) == 1


def test_a_repeated_order_while_its_claim_is_in_flight_is_a_duplicate() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    assert open_with_store(hosting, 1, 7, 10) == (0, 1)
    assert len(hosting.take_claims()) == 1


def test_a_rejected_older_open_does_not_cancel_a_newer_claim_of_the_region() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1], [7], [10], [b""], [b""])  # no store yet: opening, OPENED seq 10 sent
    report = hosting.take_report(10)
    open_with_store(hosting, 1, 7, 12)  # meanwhile it was written to (elsewhere), retried here: seq 12
    newer = claim_of(hosting)
    assert hosting.answered(report, [[0]]) == [1]  # the master refuses seq 10: that open is closed ...
    assert hosting.claiming[1] is newer  # ... the claim of the newer one goes on
    assert hosting.claimed([(newer, None)]) == ([newer], [])
    assert hosting.take_report(10) == [(OPENED, [1], [7], [12])]


def test_a_reopen_of_a_region_served_here_keeps_serving_the_old_open_until_the_new_one_is_accepted() -> None:
    hosting = Hosting()
    hosting.open_many("t", [1], [7], [10], [b""], [b""])
    hosting.answered(hosting.take_report(10), [[]])
    open_with_store(hosting, 1, 9, 12)
    assert hosting.online[1].open_seq_num == 10 and 1 in hosting.claiming
    newer = claim_of(hosting)
    hosting.claimed([(newer, None)])
    hosting.answered(hosting.take_report(10), [[]])
    assert hosting.online[1] is newer and hosting.check_digest()


def test_stopping_with_claims_in_flight_makes_all_their_results_stale() -> None:
    hosting = Hosting()
    hosting.open_many(
        "t", [1, 2, 3], [7, 8, 9], [10, 11, 12], [b"", b"a", b"b"], [b"a", b"b", b""], with_store={2, 3}
    )
    claims = hosting.take_claims()
    hosting.open_many("t", [4], [10], [13], [b"c"], [b""], with_store={4})  # accepted, not yet started
    assert hosting.stop_serving() == 0
    assert not hosting.claiming and hosting.take_claims() == []
    for region in claims:
        region.store = object()
    assert hosting.claimed([(r, None) for r in claims]) == ([], claims)
    assert not hosting.opening and not hosting.online and hosting.check_digest()


def test_a_data_request_for_a_region_still_claiming_gets_the_opening_error() -> None:
    hosting = Hosting()
    open_with_store(hosting, 1, 7, 10)
    service = RegionDataService(
        hosting, Stores(Path("/nonexistent"), SERVER), Scanners(), SERVER, lambda: True, LoadCounters()
    )
    answer = service.region(1)
    assert isinstance(answer, data_pb2.RegionError)
    assert answer.reason == data_pb2.RegionError.OPENING, answer  # the SDK retries on it
    assert service.region(2).reason == data_pb2.RegionError.NOT_SERVING  # type: ignore[union-attr]


# ---- regionserver.claims, with real stores ----


class GatedStores(Stores):
    """Stores whose claims wait for `gate` (in their thread): a test decides when they run."""

    def __init__(self, rootdir: Path) -> None:
        super().__init__(rootdir, SERVER)
        self.gate = threading.Event()
        self.started = threading.Event()

    def claim(self, region: HostedRegion) -> OpenFailed | None:
        self.started.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().claim(region)


def written(rootdir: Path, region_ids: list[int]) -> None:
    """Stores for `region_ids` of table t, each written once by an earlier owner."""
    for rid in region_ids:
        store = RegionStore(region_dir(rootdir, "t", rid), Claim(ServerName("h", 1, 1), 1), FAMILIES)
        assert store.mutate([RowMutation(b"r", (Put(b"f", b"q", b"v"),))]) == [None]
        store.close()


async def settled(claims: Claims) -> None:
    async with asyncio.timeout(30):
        await claims.settled()


def test_claims_run_in_threads_report_as_batches_complete_and_stores_are_claimed(tmp_path: Path) -> None:
    written(tmp_path, list(range(1, 121)))
    hosting = Hosting()
    woken: list[int] = []

    async def main() -> None:
        claims = Claims(
            hosting, Stores(tmp_path, SERVER), lambda: woken.append(len(hosting.outbox)), batch=50
        )
        ids = list(range(1, 122))  # 121 has no store: opened at once
        hosting.open_many(
            "t",
            ids,
            ids,
            [5] * len(ids),
            [b"%03d" % i for i in ids],
            [b"%03d" % (i + 1) for i in ids],
            with_store=set(range(1, 121)),
            families=FAMILIES,
        )
        assert list(hosting.opening) == [121] and len(hosting.claiming) == 120
        assert claims.start() == 120
        await settled(claims)
        await claims.stop()

    asyncio.run(main())
    assert len(woken) == 3  # three batches: 50, 50, 20
    assert not hosting.claiming and len(hosting.opening) == 121 and hosting.check_digest()
    owner = hosting.opening[1].store.store.owner()
    assert owner == Claim(SERVER, 5)


def test_a_store_claimed_for_a_region_closed_meanwhile_is_closed_not_served(tmp_path: Path) -> None:
    written(tmp_path, [1, 2])
    hosting = Hosting()
    stores = GatedStores(tmp_path)
    path = region_dir(tmp_path, "t", 1)

    async def main() -> None:
        claims = Claims(hosting, stores, lambda: None, batch=1)
        hosting.open_many("t", [1, 2], [7, 8], [10, 11], [b"", b"a"], [b"a", b""], with_store={1, 2})
        claims.start()
        await asyncio.to_thread(stores.started.wait, 30)
        hosting.close_many([1], [9])  # while region 1's claim waits in its thread
        stores.gate.set()
        await settled(claims)
        await claims.stop()

    asyncio.run(main())
    assert 1 not in hosting.opening and 2 in hosting.opening
    assert not PROCESS_ENVIRONMENTS.is_open(path)  # the claim's environment closed again
    assert hosting.take_report(10) == [(OPENED, [2], [8], [11]), (CLOSED, [1], [9], [0])]


def test_stopping_with_claims_waiting_cancels_them_and_closes_the_running_ones(tmp_path: Path) -> None:
    written(tmp_path, list(range(1, 11)))
    hosting = Hosting()
    stores = GatedStores(tmp_path)

    async def main() -> None:
        claims = Claims(hosting, stores, lambda: None, threads=1, batch=2)
        ids = list(range(1, 11))
        hosting.open_many(
            "t",
            ids,
            ids,
            [3] * 10,
            [b"%02d" % i for i in ids],
            [b"%02d" % (i + 1) for i in ids],
            with_store=set(ids),
        )
        claims.start()
        await asyncio.to_thread(stores.started.wait, 30)
        hosting.stop_serving()
        stopping = asyncio.ensure_future(claims.stop())
        await asyncio.sleep(0)
        stores.gate.set()  # the running batch finishes; the others never start
        async with asyncio.timeout(30):
            await stopping
        assert claims.in_flight == 0

    asyncio.run(main())
    assert not hosting.opening and not hosting.claiming and not len(hosting.outbox)
    assert not any(PROCESS_ENVIRONMENTS.is_open(region_dir(tmp_path, "t", rid)) for rid in range(1, 11))


@pytest.mark.parametrize("fenced_by", [0, 1])
def test_a_claim_refused_by_the_store_is_reported_failed_open(tmp_path: Path, fenced_by: int) -> None:
    written(tmp_path, [1])
    if fenced_by:  # a newer open elsewhere owns the store
        RegionStore(region_dir(tmp_path, "t", 1), Claim(ServerName("h", 2, 2), 20), FAMILIES).claim_existing()
    else:  # a malformed REFERENCES file
        (region_dir(tmp_path, "t", 1) / "REFERENCES").write_bytes(b"\xff not references")
    hosting = Hosting()

    async def main() -> None:
        claims = Claims(hosting, Stores(tmp_path, SERVER), lambda: None)
        open_with_store(hosting, 1, 7, 10)
        claims.start()
        await settled(claims)
        await claims.stop()

    asyncio.run(main())
    ((code, ids, procs, seqs),) = hosting.take_report(10)
    assert (code, ids, procs, seqs) == (FAILED_OPEN, [1], [7], [20 if fenced_by else 10])
    assert not PROCESS_ENVIRONMENTS.is_open(region_dir(tmp_path, "t", 1))


@pytest.mark.parametrize("asked", [[1, 2, 3, 9], list(range(1, 1000))])
def test_regions_with_store_finds_the_same_by_lookups_and_by_listing(
    tmp_path: Path, asked: list[int]
) -> None:
    written(tmp_path, [1, 3, 5])
    (region_dir(tmp_path, "t", 7)).mkdir()  # a child's directory with only REFERENCES counts too
    found = regions_with_store(tmp_path, "t", asked)
    assert found & set(asked) == {1, 3, 5, 7} & set(asked)
    assert regions_with_store(tmp_path, "absent", asked) == set()


class BrokenStores(Stores):
    """Stores whose claim of region 2 raises what no store error covers."""

    def claim(self, region: HostedRegion) -> OpenFailed | None:
        if region.region_id == 2:
            raise OSError(5, "Input/output error")
        return super().claim(region)


def test_an_unexpected_error_in_a_claim_fails_that_open_only(tmp_path: Path) -> None:
    written(tmp_path, [1, 2, 3])
    hosting = Hosting()

    async def main() -> None:
        claims = Claims(hosting, BrokenStores(tmp_path, SERVER), lambda: None, batch=3)
        hosting.open_many(
            "t", [1, 2, 3], [7, 8, 9], [4, 4, 4], [b"", b"a", b"b"], [b"a", b"b", b""], with_store={1, 2, 3}
        )
        claims.start()
        await settled(claims)
        await claims.stop()

    asyncio.run(main())
    assert sorted(hosting.opening) == [1, 3] and not hosting.claiming
    assert [(code, ids) for code, ids, _, _ in hosting.take_report(10)] == [
        (OPENED, [1, 3]),
        (FAILED_OPEN, [2]),
    ]
