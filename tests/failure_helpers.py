"""Shared by the failure tests (test_failures_*.py): watching who serves what while processes are killed and
paused, waiting for the cluster to settle, reading meta behind a paused master.

The invariant watched throughout: no region is served by two servers at once (every server's own list of
the regions it serves, sampled in a loop while the failure happens), and at the end every region is OPEN on
exactly one live server, with meta and the servers agreeing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import lmdb

from client.errors import RegentError
from client.types import RegionLocation
from meta import RegionInfo, RegionState, RegionStateRow, ServerName, TableDescriptor
from meta.codec import decode_region_info, decode_region_state, decode_table
from regent.proto.meta_pb2 import ProcedureRecord
from regent.transport import INSECURE
from regent.verify import serving as serving_watch
from tests.background import CheckedSampler
from tests.cluster import (
    Cluster,
    Daemons,
    Master,
    RegionServer,
    is_insecure,
    online_regions,
    secure_transport,
    wait_until,
)

#: Short leases: a dead server is noticed in a second, so these tests stay quick.
SHORT_LEASE = ("--heartbeat-ms", "200", "--lease-ms", "1000")
#: A lease far longer than any wait of these tests: whatever happens in time happened for another reason.
LONG_LEASE = ("--heartbeat-ms", "500", "--lease-ms", "120000")
#: How long a probe of one server may take while sampling (a paused server must not stall the sampler).
SAMPLE_TIMEOUT_S = 0.5
#: Deadline of convergence waits: generous, for a loaded 2-core machine.
SETTLE_TIMEOUT_S = 90.0
FAMILY = "f"


# ---- observing the cluster ----


def online_of(address: str, timeout: float = SAMPLE_TIMEOUT_S) -> dict[int, int] | None:
    """What the server at `address` says it serves, None if it does not answer (dead, paused, exiting)."""
    try:
        return online_regions(address, timeout)
    except grpc.RpcError:
        return None


class DoubleServingWatch(CheckedSampler):
    """regent.verify.serving's ServingWatch (the one `regent verify serving` runs) over the cluster's live
    servers, in a thread; leaving the `with` checks it (tests/background.py): the sampler met no exception,
    ended, received at least MIN_RATE answers per second, and saw no region served twice. Only answers
    count as samples: a round in which no server answered observed nothing."""

    name = "double-serving-watch"
    #: Answers (one server's list) per second, at least: measured 15-60/s on a loaded 2-core machine with
    #: 12,000 regions and a paused server costing a probe timeout now and then.
    min_rate = 3.0
    #: Two answers of each of three servers: the least that can show a region served twice.
    min_samples = 6

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.cluster = cluster
        secure = serving_watch.OnlineProbe(secure_transport(), SAMPLE_TIMEOUT_S)
        plain = serving_watch.OnlineProbe(INSECURE, SAMPLE_TIMEOUT_S)
        self._probes = (secure, plain)
        self.watch = serving_watch.ServingWatch(
            lambda: [s.address for s in list(self.cluster.servers) if s.alive],
            lambda address: (plain if is_insecure(address) else secure)(address),
        )

    @property
    def doubles(self) -> set[str]:
        return {str(d) for d in self.watch.found}

    def sample(self) -> int:
        before = self.watch.answers
        self.watch.sample()
        return self.watch.answers - before

    def stop(self) -> None:
        super().stop()
        for probe in self._probes:
            probe.close()

    def verdict(self) -> None:
        assert not self.doubles, f"regions served by two servers at once: {sorted(self.doubles)[:10]}"


def _placement(regions: dict[int, RegionLocation]) -> dict[int, tuple[Any, ...]]:
    return {rid: (r.state, r.server, r.proc_id) for rid, r in regions.items()}


def settled(
    cluster: Cluster,
    tables: dict[str, int],
    timeout: float = SETTLE_TIMEOUT_S,
    exclude: Sequence[RegionServer] = (),
) -> dict[int, RegionLocation]:
    """Wait until every region of `tables` (name -> region count) is OPEN with no procedure on a live
    server, and every server agrees: each region is served by its server in meta and by no other, and no
    server serves a region meta does not place on it. Servers in `exclude` (paused) are not asked, and no
    region may be placed on them. Return the regions by id."""
    problem = ["nothing checked yet"]
    excluded = {s.address for s in exclude}

    def check() -> dict[int, RegionLocation] | None:
        try:
            status = cluster.admin.cluster_status(timeout=5.0)
            regions = {r.region_id: r for t in tables for r in cluster.admin.table_regions(t, timeout=10.0)}
        except RegentError as exc:
            problem[0] = f"master: {exc}"
            return None
        live = {s.server for s in status.servers}
        daemons = {s.address: s for s in cluster.servers if s.alive and s.address not in excluded}
        if len(regions) != sum(tables.values()):
            problem[0] = f"{len(regions)} regions in meta, expected {sum(tables.values())}"
            return None
        for r in regions.values():
            if r.state is not RegionState.OPEN or r.proc_id or r.server is None:
                problem[0] = f"region {r.region_id} is {r.state.name} on {r.server} proc {r.proc_id}"
                return None
            if r.server not in live or r.server.address not in daemons:
                problem[0] = f"region {r.region_id} is OPEN on {r.server}, not a live server"
                return None
        served: dict[int, list[str]] = {}
        for address in daemons:
            online = online_of(address, 2.0)
            if online is None:
                problem[0] = f"server {address} does not answer"
                return None
            for region_id in online:
                served.setdefault(region_id, []).append(address)
        for r in regions.values():
            assert r.server is not None
            if served.get(r.region_id) != [r.server.address]:
                problem[0] = (
                    f"region {r.region_id}: meta says {r.server}, servers say {served.get(r.region_id)}"
                )
                return None
        unknown = set(served) - set(regions)
        if unknown:
            problem[0] = f"servers serve regions meta does not know: {sorted(unknown)[:10]}"
            return None
        # The servers are asked by address, after meta was read: a server restarted on the same address
        # may have opened the regions its old incarnation held in between. Only a meta unchanged since the
        # first reading (same servers, startcodes included) makes the answers one consistent picture.
        try:
            again = {r.region_id: r for t in tables for r in cluster.admin.table_regions(t, timeout=10.0)}
        except RegentError as exc:
            problem[0] = f"master: {exc}"
            return None
        if _placement(again) != _placement(regions):
            problem[0] = "meta changed while the servers were asked"
            return None
        return regions

    return wait_until(
        check,
        timeout,
        "every region OPEN on exactly one live server, meta and servers agreeing",
        interval=0.1,
        context=lambda: f"last problem: {problem[0]}\n{cluster.daemons.log_tails()}",
    )


def serving(cluster: Cluster, server: RegionServer) -> list[int]:
    online = online_of(server.address, 2.0)
    assert online, f"{server.name} serves nothing\n{server.log_tail()}"
    return sorted(online)


def events(daemon: Master | RegionServer, event: str) -> list[dict[str, Any]]:
    return [e for e in daemon.events() if e.get("event") == event]


def declared_dead(master: Master, startcode: int) -> list[dict[str, Any]]:
    return [e for e in events(master, "server_declared_dead") if e["server"].endswith(f":{startcode}")]


def incarnation(server: RegionServer) -> ServerName:
    """The incarnation (host:port:startcode) of a started RegionServer, from its own log."""
    record = wait_until(
        lambda: next(iter(events(server, "regionserver_started")), None),
        30,
        f"{server.name} to start",
        context=server.log_tail,
    )
    return ServerName.parse(record["server"])


def row_in(location: RegionLocation) -> bytes:
    row = location.info.start_key or b"\x00"
    assert location.info.contains(row)
    return row


def active_master(cluster: Cluster) -> Master:
    return wait_until(cluster.active_master, 30, "an active master", context=cluster.daemons.log_tails)


def backup_master(cluster: Cluster, active: Master) -> Master:
    (backup,) = [m for m in cluster.masters if m is not active and m.alive]
    backup.wait_reachable()
    return backup


def procedures(cluster: Cluster) -> list[str]:
    """The unfinished procedures (finished ones stay listed for a while, with their outcome)."""
    return [
        f"{p.kind} {p.proc_id}: {p.step}"
        for p in cluster.admin.list_procedures()
        if p.state in ("RUNNABLE", "WAITING")
    ]


@dataclass(frozen=True, slots=True)
class MetaContents:
    """Every row of the meta databases the procedures change, decoded."""

    tables: dict[str, TableDescriptor]
    regions: dict[int, RegionInfo]  # by region id
    region_state: dict[int, RegionStateRow]  # by region id
    procedures: dict[int, ProcedureRecord]  # by procedure id


def read_meta_contents(rootdir: Path) -> MetaContents:
    """What meta holds now, read straight from its LMDB file while the active master is paused or dead.

    Read-only and without LMDB's locks: the paused master may hold the writer lock (or the reader table's),
    and nothing writes meanwhile (the backup only reads), so the last committed state is stable.
    """
    env = lmdb.open(str(rootdir / "meta"), readonly=True, lock=False, max_dbs=32)
    try:
        with env.begin() as txn:

            def rows(name: bytes) -> list[tuple[bytes, bytes]]:
                return list(txn.cursor(db=env.open_db(name, txn=txn, create=False)))

            regions = (decode_region_info(raw) for _, raw in rows(b"regions"))
            return MetaContents(
                tables={key.decode(): decode_table(raw) for key, raw in rows(b"tables")},
                regions={info.region_id: info for info in regions},
                region_state={
                    int.from_bytes(key, "big"): decode_region_state(raw) for key, raw in rows(b"region_state")
                },
                procedures={
                    int.from_bytes(key, "big"): ProcedureRecord.FromString(raw)
                    for key, raw in rows(b"procedures")
                },
            )
    finally:
        env.close()


def read_meta(rootdir: Path) -> tuple[dict[int, RegionStateRow], list[str]]:
    """The region_state rows by region id, and the kinds of the procedures recorded (read_meta_contents)."""
    contents = read_meta_contents(rootdir)
    return contents.region_state, [record.kind for record in contents.procedures.values()]


class Clusters:
    """The clusters one test starts on its ROOTDIR; leaving the `with` closes their client connections (the
    `daemons` fixture kills the processes)."""

    def __init__(self, daemons: Daemons, rootdir: Path) -> None:
        self.daemons = daemons
        self.rootdir = rootdir
        self.started: list[Cluster] = []

    def start(
        self,
        *,
        masters: int = 1,
        servers: int = 3,
        master_args: Sequence[str] = (),
        server_args: Sequence[str] = (),
    ) -> Cluster:
        cluster = Cluster(
            self.daemons, self.rootdir, masters=masters, master_args=master_args, server_args=server_args
        )
        self.started.append(cluster)
        # Backups start once the first master is active, so that the first one is the active one.
        cluster.start_master(0).wait_active(30)
        for i in range(1, masters):
            cluster.start_master(i).wait_reachable()
        for _ in range(servers):
            cluster.start_server()
        cluster.wait_live(servers)
        active_master(cluster)
        return cluster

    def __enter__(self) -> Clusters:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for cluster in self.started:
            cluster.close()
