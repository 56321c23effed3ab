"""Automatic split requests: the stepping policy as pure functions (regionserver.split_policy), and the
request side (regionserver.auto_split) on real stores against a small in-process gRPC server standing in for
the master's RegionServerStatus (its RequestSplit handler is another part of issue 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meta import ServerName, references
from meta.references import Reference
from meta.types import ColumnFamily
from regent.proto import common_pb2, master_pb2, master_pb2_grpc
from regionserver.auto_split import RETRY_S, AutoSplits
from regionserver.data.environments import Claim, region_dir
from regionserver.data.middle import cells_bytes
from regionserver.data.mutations import Put, RowMutation
from regionserver.data.region_store import PROCESS_ENVIRONMENTS, RegionStore
from regionserver.hosting import HostedRegion, Hosting
from regionserver.split_policy import SplitSettings, due, jitter, threshold
from regionserver.store import Stores
from tests.clocks import Clock

FAMILIES = {b"f": ColumnFamily("f")}
SERVER = ServerName("127.0.0.1", 7000, 1000)
GiB = 1 << 30


# ---- the policy ----


@given(st.integers(1, 2**63))
def test_jitter_is_in_range_and_fixed_per_region(region_id: int) -> None:
    assert 0.75 <= jitter(region_id) < 1.25
    assert jitter(region_id) == jitter(region_id)


def test_jitter_spreads_regions_over_its_range() -> None:
    factors = [jitter(r) for r in range(1, 2001)]
    assert min(factors) < 0.8 and max(factors) > 1.2
    assert 0.95 < sum(factors) / len(factors) < 1.05


@given(st.integers(8, 2**50), st.integers(0, 1000), st.integers(1, 2**63))
def test_the_threshold_steps_from_an_eighth_to_the_maximum(
    max_size: int, regions: int, region_id: int
) -> None:
    got = threshold(max_size, regions, region_id)
    base = max_size // 8 if regions <= 1 else max_size
    assert got == max(1, int(base * jitter(region_id)))
    assert threshold(max_size, 1, region_id) <= threshold(max_size, 2, region_id)


def test_the_default_first_split_comes_near_1_28_gib() -> None:
    assert 0.75 * 1.25 * GiB <= threshold(10 * GiB, 1, 42) < 1.25 * 1.25 * GiB + 1


@given(st.integers(0, 2**40), st.integers(1, 10), st.booleans(), st.integers(0, 2**40))
def test_due_only_when_enabled_with_a_maximum_and_past_the_threshold(
    max_size: int, regions: int, enabled: bool, size: int
) -> None:
    settings = SplitSettings(max_size, enabled)
    got = due(settings, size, regions, 7)
    if not enabled or max_size == 0:
        assert got is None
    else:
        limit = threshold(max_size, regions, 7)
        assert got == (limit if size >= limit else None)
    assert due(None, size, regions, 7) is None


def test_settings_of_an_open_order() -> None:
    assert SplitSettings.of(None) is None
    assert SplitSettings.of(common_pb2.TableSettings()) == SplitSettings(0, True)
    assert not SplitSettings.of(common_pb2.TableSettings()).automatic  # type: ignore[union-attr]
    off = SplitSettings.of(common_pb2.TableSettings(max_region_size=5, split_enabled=False))
    assert off == SplitSettings(5, False) and not off.automatic


# ---- the requests ----


class StandInMaster(master_pb2_grpc.RegionServerStatusServicer):
    def __init__(self) -> None:
        self.requests: list[master_pb2.RequestSplitRequest] = []
        self.accept = False

    async def RequestSplit(
        self, request: master_pb2.RequestSplitRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.RequestSplitResponse:
        self.requests.append(request)
        if self.accept:
            return master_pb2.RequestSplitResponse(accepted=True, proc_id=77)
        return master_pb2.RequestSplitResponse(accepted=False, reason="splits are switched off")


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    PROCESS_ENVIRONMENTS.close_all()


async def settled(auto: AutoSplits) -> None:
    await asyncio.wait_for(asyncio.gather(*list(auto._tasks)), timeout=10)


def grown(stores: Stores, region: HostedRegion, rows: int) -> int:
    store = stores.of(region).store
    store.mutate([RowMutation(b"r%05d" % i, (Put(b"f", b"q", b"v" * 200),)) for i in range(rows)])
    return cells_bytes(store)


def test_a_region_past_its_threshold_asks_once_per_open_and_waits_after_a_refusal(tmp_path: Path) -> None:
    async def main() -> None:
        master = StandInMaster()
        server = grpc.aio.server()
        master_pb2_grpc.add_RegionServerStatusServicer_to_server(master, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            stub = master_pb2_grpc.RegionServerStatusStub(channel)
            hosting, stores, clock = Hosting(), Stores(tmp_path, SERVER), Clock(1000.0)
            auto = AutoSplits(hosting, stores, SERVER, lambda r: stub.RequestSplit(r, timeout=5), clock)
            size = grown(stores, region := HostedRegion(1, "t", b"", b"", 5, 1, FAMILIES), 400)
            # A maximum whose eighth (times the region's jitter) is just under the store's size.
            settings = SplitSettings(int(size * 8 / jitter(1)) - 8 * 4096, True)
            region.split_settings = settings
            hosting.online[1] = region
            auto.written(region)
            await settled(auto)
            assert len(master.requests) == 1
            sent = master.requests[0]
            assert (sent.region_id, sent.region_bytes) == (1, size)
            assert sent.threshold_bytes == threshold(settings.max_region_size, 1, 1) <= size
            assert sent.split_key == b"r00200" or b"r00150" < sent.split_key < b"r00250"
            assert sent.server.port == SERVER.port
            clock.now += 30  # refused: not asked again before RETRY_S
            auto.written(region)
            await settled(auto)
            assert len(master.requests) == 1
            master.accept = True
            clock.now += RETRY_S
            auto.written(region)
            await settled(auto)
            assert len(master.requests) == 2
            clock.now += 10 * RETRY_S  # accepted: never again while this open lasts
            auto.written(region)
            await settled(auto)
            assert len(master.requests) == 2
            reopened = HostedRegion(1, "t", b"", b"", 6, 2, FAMILIES, split_settings=settings)
            reopened.store = region.store
            hosting.online[1] = reopened
            auto.written(reopened)  # a new open: may ask again
            await settled(auto)
            assert len(master.requests) == 3
        finally:
            await channel.close()
            await server.stop(0)

    asyncio.run(main())


def test_no_request_below_the_step_disabled_without_settings_or_with_references(tmp_path: Path) -> None:
    asked: list[master_pb2.RequestSplitRequest] = []

    async def request(r: master_pb2.RequestSplitRequest) -> master_pb2.RequestSplitResponse:
        asked.append(r)
        return master_pb2.RequestSplitResponse(accepted=True)

    async def main() -> None:
        hosting, stores, clock = Hosting(), Stores(tmp_path, SERVER), Clock(1000.0)
        auto = AutoSplits(hosting, stores, SERVER, request, clock)
        region = HostedRegion(1, "t", b"", b"", 5, 1, FAMILIES)
        size = grown(stores, region, 400)
        max_size = int(size * 8 / jitter(1)) - 8 * 4096  # the first step is passed, the maximum is not
        hosting.online[1] = region
        for settings in (None, SplitSettings(0, True), SplitSettings(max_size, False)):
            region.split_settings = settings
            clock.now += 2
            auto.written(region)
        region.split_settings = SplitSettings(max_size, True)
        hosting.online[2] = HostedRegion(2, "t", b"", b"", 5, 1, FAMILIES)  # a second region of the table
        clock.now += 2
        auto.written(region)
        await settled(auto)
        assert asked == []  # past max/8 but not max: with two regions here the step is the maximum
        del hosting.online[2]
        auto.written(region)  # measured less than a second ago: not measured again yet
        await settled(auto)
        assert asked == []
        clock.now += 1
        auto.written(region)
        await settled(auto)
        assert len(asked) == 1
        # A child that still references a parent never asks.
        parent = RegionStore(region_dir(tmp_path, "t", 9), Claim(SERVER, 1), FAMILIES)
        parent.mutate([RowMutation(b"a%d" % i, (Put(b"f", b"q", b"v" * 500),)) for i in range(500)])
        parent.close()
        references.write(region_dir(tmp_path, "t", 3), [Reference(9, b"", b"")])
        child = HostedRegion(3, "t", b"", b"", 5, 1, FAMILIES, split_settings=SplitSettings(8, True))
        assert stores.claim_existing(child) is None
        stores.of(child)._stop_fold()
        hosting.online[3] = child
        stores.of(child).store.mutate([RowMutation(b"b", (Put(b"f", b"q", b"v"),))])
        clock.now += 2
        auto.written(child)
        await settled(auto)
        assert len(asked) == 1

    asyncio.run(main())
