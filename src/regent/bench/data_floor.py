"""The two floors of `regent bench data`, measured in the same run as the cluster's figures.

- **The LMDB floor** (`LmdbFloor`): the same operations on the same keys straight on one LMDB environment
  in one process (the region store's key layout, regionserver.data.keys), no RPC, no routing, no region:
  what the storage costs. Writes are committed in groups as large as the number of client threads (the best a
  group commit can do with that many callers), each group durable (fsync) as the store's.
- **The transport floor** (`serve_noop`, `TransportClient`): the same requests, of the same sizes, from the
  same client processes and threads, through gRPC (with TLS when the bench runs with it) to a RegionData
  server that does nothing but answer with a reply of the size a real one has (a read: one row of 10 cells
  of 100 bytes; a scan: as many rows as asked).
- **The spread floor** (`SpreadClient`): the transport floor in the cluster's shape, as many no-op servers
  as the cluster has RegionServers, each operation sent to the one standing for the RegionServer that
  holds its row's region. What the transport alone costs when the load is split over that many processes,
  which on a machine with fewer cores than processes is more per call than one process pays.

    python -m regent.bench.data_floor --port P [--insecure | --certs-dir D]   # the no-op server
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc
import lmdb

from regent import tls
from regent.bench import ycsb
from regent.config import GRPC_OPTIONS
from regent.proto import data_pb2, data_pb2_grpc
from regent.transport import INSECURE, Transport
from regionserver.data import keys

#: A cell's timestamp: any fixed one (the floor keeps one version, as the bench's table).
_TS = 1


def _value_cells(row: bytes) -> list[data_pb2.Cell]:
    family, value = ycsb.FAMILY, bytes(ycsb.FIELD_BYTES)
    return [
        data_pb2.Cell(family=family, qualifier=b"field%d" % i, timestamp=_TS, value=value)
        for i in range(ycsb.FIELDS)
    ]


class _Noop(data_pb2_grpc.RegionDataServicer):
    """Answers as a real server would in size, without reading or writing anything."""

    async def Get(self, request: data_pb2.GetRequest, context: Any) -> data_pb2.GetResponse:
        return data_pb2.GetResponse(
            regions=[
                data_pb2.RegionResult(
                    region_id=r.region_id,
                    rows=[data_pb2.Row(row=row, cells=_value_cells(row)) for row in r.rows],
                )
                for r in request.regions
            ]
        )

    async def Mutate(self, request: data_pb2.MutateRequest, context: Any) -> data_pb2.MutateResponse:
        return data_pb2.MutateResponse(
            regions=[data_pb2.RegionOutcome(region_id=r.region_id) for r in request.regions]
        )

    async def OpenScanner(self, request: data_pb2.OpenScannerRequest, context: Any) -> data_pb2.ScanResponse:
        n = min(request.scan.limit or 1000, request.rows or 1000)
        row = request.scan.start_row
        return data_pb2.ScanResponse(
            rows=[data_pb2.Row(row=row, cells=_value_cells(row)) for _ in range(n)],
            more_in_region=False,
            scan_done=True,
        )

    async def _unused(self, request: Any, context: Any) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "the transport floor answers Get, Mutate, OpenScanner"
        )

    CheckAndPut = Increment = ScannerNext = CloseScanner = Compact = _unused


async def _serve(port: int, transport: Transport) -> None:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    data_pb2_grpc.add_RegionDataServicer_to_server(_Noop(), server)
    transport.add_port(server, f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


class TransportClient:
    """The bench's operations as the SDK sends them for one row (one region): one RPC each."""

    def __init__(self, address: str, transport: Transport, *, connect_timeout: float = 120.0) -> None:
        self.channel = transport.channel(address)
        self.stub = data_pb2_grpc.RegionDataStub(self.channel)
        # Connected before the first call: on a loaded machine, 16 clients' TLS handshakes with one
        # server process can outlast a call's first connection attempt (UNAVAILABLE, "timed out before
        # receiving SETTINGS frame").
        grpc.channel_ready_future(self.channel).result(timeout=connect_timeout)

    def read(self, row: bytes) -> None:
        self.stub.Get(data_pb2.GetRequest(regions=[data_pb2.RegionRows(region_id=1, rows=[row])]), timeout=30)

    def update(self, row: bytes, column: bytes, value: bytes) -> None:
        family, qualifier = column.split(b":", 1)
        put = data_pb2.Mutation(kind=data_pb2.Mutation.PUT, family=family, qualifier=qualifier, value=value)
        self._mutate([data_pb2.RowMutation(row=row, mutations=[put])])

    def insert(self, row: bytes, data: dict[bytes, bytes]) -> None:
        self.load([(row, data)])

    def load(self, rows: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> None:
        mutations = []
        for row, data in rows:
            puts = []
            for column, value in data.items():
                family, qualifier = column.split(b":", 1)
                puts.append(
                    data_pb2.Mutation(
                        kind=data_pb2.Mutation.PUT, family=family, qualifier=qualifier, value=value
                    )
                )
            mutations.append(data_pb2.RowMutation(row=row, mutations=puts))
        self._mutate(mutations)

    def scan(self, row: bytes, length: int) -> None:
        spec = data_pb2.ScanSpec(start_row=row, limit=length)
        self.stub.OpenScanner(data_pb2.OpenScannerRequest(region_id=1, scan=spec, rows=length), timeout=30)

    def _mutate(self, rows: list[data_pb2.RowMutation]) -> None:
        self.stub.Mutate(
            data_pb2.MutateRequest(regions=[data_pb2.RegionMutations(region_id=1, rows=rows)]), timeout=30
        )

    def close(self) -> None:
        self.channel.close()


class Routes:
    """Which server a row goes to: `routes` holds each region's start key (hex) and its server's index,
    sorted by start key, the first region's start key empty."""

    def __init__(self, routes: Sequence[Sequence[Any]]) -> None:
        starts = [bytes.fromhex(str(start)) for start, _ in routes]
        if not starts or starts[0] != b"" or starts != sorted(set(starts)):
            raise ValueError("routes must be sorted by distinct start keys, the first one empty")
        self.starts = starts
        self.servers = [int(index) for _, index in routes]

    def server(self, row: bytes) -> int:
        return self.servers[bisect.bisect_right(self.starts, row) - 1]


class SpreadClient:
    """The transport floor over several no-op servers (`addresses`), each operation to the server of its
    row's region by `routes` (see Routes)."""

    def __init__(
        self, addresses: Sequence[str], routes: Sequence[Sequence[Any]], transport: Transport
    ) -> None:
        self.routes = Routes(routes)
        if max(self.routes.servers) >= len(addresses):
            raise ValueError(f"routes name server {max(self.routes.servers)} of {len(addresses)}")
        self.clients = [TransportClient(a, transport) for a in addresses]

    def _at(self, row: bytes) -> TransportClient:
        return self.clients[self.routes.server(row)]

    def read(self, row: bytes) -> None:
        self._at(row).read(row)

    def update(self, row: bytes, column: bytes, value: bytes) -> None:
        self._at(row).update(row, column, value)

    def insert(self, row: bytes, data: dict[bytes, bytes]) -> None:
        self._at(row).insert(row, data)

    def load(self, rows: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> None:
        by_server: dict[int, list[tuple[bytes, dict[bytes, bytes]]]] = {}
        for row, data in rows:
            by_server.setdefault(self.routes.server(row), []).append((row, data))
        for server, part in sorted(by_server.items()):
            self.clients[server].load(part)

    def scan(self, row: bytes, length: int) -> None:
        self._at(row).scan(row, length)

    def close(self) -> None:
        for client in self.clients:
            client.close()


class LmdbFloor:
    """The same operations straight on one LMDB environment, in this process."""

    def __init__(self, path: Path, group: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=64 << 30, max_dbs=1)
        self.group = max(1, group)
        self.pending: list[tuple[bytes, bytes]] = []

    def load(self, rows: Iterable[tuple[bytes, dict[bytes, bytes]]]) -> None:
        with self.env.begin(write=True) as txn:
            for row, data in rows:
                for column, value in data.items():
                    family, qualifier = column.split(b":", 1)
                    txn.put(keys.cell_key(row, family, qualifier, _TS), value)

    def read(self, row: bytes) -> int:
        start, end = keys.row_start(row), keys.row_end(row)
        n = 0
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(start):
                for k, _ in cursor:
                    if k >= end:
                        break
                    n += 1
        return n

    def scan(self, row: bytes, length: int) -> int:
        start = keys.row_start(row)
        rows = cells = 0
        last = b""
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(start):
                for k, _ in cursor:
                    prefix = k[: k.index(b"\x00\x01") + 2]
                    if prefix != last:
                        rows += 1
                        if rows > length:
                            break
                        last = prefix
                    cells += 1
        return cells

    def update(self, row: bytes, column: bytes, value: bytes) -> None:
        family, qualifier = column.split(b":", 1)
        self.pending.append((keys.cell_key(row, family, qualifier, _TS), value))
        if len(self.pending) >= self.group:
            self.flush()

    def insert(self, row: bytes, data: dict[bytes, bytes]) -> None:
        for column, value in data.items():
            family, qualifier = column.split(b":", 1)
            self.pending.append((keys.cell_key(row, family, qualifier, _TS), value))
        if len(self.pending) >= self.group:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            with self.env.begin(write=True) as txn:
                for k, v in self.pending:
                    txn.put(k, v)
            self.pending.clear()

    def run(self, ops: Iterable[ycsb.Op], value: bytes) -> tuple[int, float]:
        """Run `ops`; (operations, seconds)."""
        started = time.perf_counter()
        count = 0
        filler = {c: value for c in ycsb.COLUMNS}
        for op in ops:
            if op.kind == "read":
                self.read(op.row)
            elif op.kind == "update":
                self.update(op.row, ycsb.COLUMNS[op.field], value)
            elif op.kind == "scan":
                self.scan(op.row, op.length)
            else:
                self.insert(op.row, filler)
            count += 1
        self.flush()
        return count, time.perf_counter() - started

    def close(self) -> None:
        self.env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="the transport floor's no-op RegionData server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--certs-dir", type=Path)
    args = parser.parse_args()
    transport = INSECURE if args.insecure else Transport(tls.load(args.certs_dir, tls.NODE))
    asyncio.run(_serve(args.port, transport))


if __name__ == "__main__":
    main()
