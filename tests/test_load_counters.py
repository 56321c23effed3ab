"""What heartbeats carry about load: the RegionServer's counters and the master's rate."""

from __future__ import annotations

from pathlib import Path

from master.servers import ServerManager
from meta import ServerName
from regionserver.load import MEASURED_PER_HEARTBEAT, LoadCounters


def test_counters_add_requests_and_track_store_sizes_of_served_regions(tmp_path: Path) -> None:
    load = LoadCounters()
    load.requests_served()
    load.requests_served(9)
    assert load.requests == 10
    load.store_size(1, 1000)
    load.store_size(2, 500)
    load.store_size(1, 300)
    assert load.store_bytes == 800
    load.measure([], served=[2])  # region 1 is no longer served: forgotten
    assert load.store_bytes == 500


def test_measure_takes_a_bounded_number_of_stores_per_heartbeat(tmp_path: Path) -> None:
    stores = []
    for region_id in range(MEASURED_PER_HEARTBEAT + 10):
        path = tmp_path / str(region_id)
        path.mkdir()
        (path / "data.mdb").write_bytes(b"x" * 8192)
        stores.append((region_id, path))
    load = LoadCounters()
    served = [r for r, _ in stores]
    load.measure(stores, served)
    first = load.store_bytes
    assert first > 0
    load.measure(stores, served)  # the rest, round robin
    assert load.store_bytes > first
    assert load.store_bytes == sum(load._sizes.values())


def test_the_master_derives_a_request_rate_from_the_counter() -> None:
    now = [100.0]
    servers = ServerManager(lease_s=3, clock=lambda: now[0])
    name = ServerName("h", 1, 1)
    servers.register(name)
    assert servers.heartbeat(name, 0, 0, store_bytes=10)
    now[0] += 1
    servers.heartbeat(name, 0, 100)
    info = servers.info(name)
    assert info is not None and info.requests_per_s == 100 and info.store_bytes == 0
    now[0] += 1
    servers.heartbeat(name, 0, 300, 7)
    assert info.requests_per_s == 150 and info.store_bytes == 7  # smoothed: (100 + 200) / 2
    servers.decommissioned.add(name.address)
    assert servers.targets() == [] and servers.live() == [name]
