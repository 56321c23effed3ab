"""The two floors of `regent bench data`, measured in the same run as the cluster:

- **LMDB floor** (`lmdb_floor`): the workload's operations straight on one LMDB environment in this process,
  a cell per key (row, NUL, column), each write its own durable commit: what the storage alone costs.
- **Transport floor** (`python -m regent.bench.data_floor --port P ...`): a RegionData server that does
  nothing but answer with replies of the real sizes (a read: one row of 10 fields of 100 bytes; a scan: as
  many rows as asked; a write: an empty outcome), over the same gRPC and TLS; the bench's client processes
  send it requests of the real sizes through raw stubs (`FloorClient`). What the wire alone costs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import lmdb

from regent.bench import ycsb
from regent.config import GRPC_OPTIONS
from regent.proto import data_pb2, data_pb2_grpc
from regent.transport import INSECURE, Transport

_VALUE = bytes(ycsb.FIELD_BYTES)
_ROW_CELLS = [
    data_pb2.Cell(family=b"f", qualifier=name.split(b":")[1], timestamp=1, value=_VALUE)
    for name in ycsb.FIELD_NAMES
]


class NothingServer(data_pb2_grpc.RegionDataServicer):
    """Answers every data call at once with a reply of the size the real one has."""

    async def Get(self, request: data_pb2.GetRequest, context: Any) -> data_pb2.GetResponse:
        response = data_pb2.GetResponse()
        for part in request.regions:
            result = response.regions.add(region_id=part.region_id)
            for row in part.rows:
                result.rows.add(row=row, cells=_ROW_CELLS)
        return response

    async def Mutate(self, request: data_pb2.MutateRequest, context: Any) -> data_pb2.MutateResponse:
        return data_pb2.MutateResponse(
            regions=[data_pb2.RegionOutcome(region_id=p.region_id) for p in request.regions]
        )

    async def OpenScanner(self, request: data_pb2.OpenScannerRequest, context: Any) -> data_pb2.ScanResponse:
        count = request.scan.limit or request.rows or 1000
        start = request.scan.start_row
        response = data_pb2.ScanResponse(scan_done=True)
        for _ in range(count):
            response.rows.add(row=start, cells=_ROW_CELLS)
        return response


async def _serve(port: int, transport: Transport) -> None:
    server = grpc.aio.server(options=GRPC_OPTIONS)
    servicer = NothingServer()  # type: ignore[abstract]  # the calls the bench does not make are absent
    data_pb2_grpc.add_RegionDataServicer_to_server(servicer, server)
    transport.add_port(server, f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


class FloorClient:
    """The bench client's operations as raw RegionData calls of the real sizes, to the nothing server."""

    def __init__(self, address: str, transport: Transport) -> None:
        self.channel = transport.channel(address)
        self.stub = data_pb2_grpc.RegionDataStub(self.channel)

    def read(self, row: bytes) -> None:
        self.stub.Get(data_pb2.GetRequest(regions=[data_pb2.RegionRows(region_id=1, rows=[row])]), timeout=30)

    def write(self, row: bytes, data: dict[bytes, bytes]) -> None:
        request = data_pb2.MutateRequest()
        mutations = request.regions.add(region_id=1).rows.add(row=row).mutations
        for column, value in data.items():
            family, _, qualifier = column.partition(b":")
            mutations.add(kind=data_pb2.Mutation.PUT, family=family, qualifier=qualifier, value=value)
        self.stub.Mutate(request, timeout=30)

    def scan(self, row: bytes, length: int) -> None:
        spec = data_pb2.ScanSpec(start_row=row, limit=length)
        self.stub.OpenScanner(data_pb2.OpenScannerRequest(region_id=1, scan=spec, rows=length), timeout=30)

    def close(self) -> None:
        self.channel.close()


# ---- LMDB ----


def _cell_key(row: bytes, column: bytes) -> bytes:
    return row + b"\x00" + column


def lmdb_floor(rows: int, seconds: float, workloads: list[str], seed: int = 1) -> dict[str, float]:
    """ops/s of each workload on one LMDB environment loaded with `rows` records, in this process."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="regent-bench-data-floor-") as tmp:
        size = max(1 << 30, rows * ycsb.FIELDS * (ycsb.FIELD_BYTES + 64) * 2)
        env = lmdb.open(str(Path(tmp) / "floor"), map_size=size, max_dbs=1)
        try:
            _lmdb_load(env, rows, rng)
            return {w: _lmdb_workload(env, rows, ycsb.WORKLOADS[w], seconds, rng) for w in workloads}
        finally:
            env.close()


def _lmdb_load(env: Any, rows: int, rng: random.Random) -> None:
    value = rng.randbytes(ycsb.FIELD_BYTES)
    for start in range(0, rows, 1000):
        with env.begin(write=True) as txn:
            for n in range(start, min(rows, start + 1000)):
                row = ycsb.key(n)
                for column in ycsb.FIELD_NAMES:
                    txn.put(_cell_key(row, column), value)


def _lmdb_workload(env: Any, rows: int, workload: ycsb.Workload, seconds: float, rng: random.Random) -> float:
    zipf = ycsb.ScrambledZipfian(rows, rng)
    inserted = rows
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        op = workload.choose(rng)
        row = ycsb.key(zipf.next())
        if op == "read":
            with env.begin() as txn:
                cursor = txn.cursor()
                cursor.set_range(row + b"\x00")
                for _ in range(ycsb.FIELDS):
                    cursor.value()
                    cursor.next()
        elif op == "update":
            with env.begin(write=True) as txn:
                txn.put(_cell_key(row, ycsb.FIELD_NAMES[rng.randrange(ycsb.FIELDS)]), rng.randbytes(100))
        elif op == "scan":
            with env.begin() as txn:
                cursor = txn.cursor()
                cursor.set_range(row)
                for _ in range(rng.randint(1, ycsb.MAX_SCAN) * ycsb.FIELDS):
                    cursor.value()
                    if not cursor.next():
                        break
        else:
            new = ycsb.key(inserted)
            inserted += 1
            with env.begin(write=True) as txn:
                for column, value in ycsb.record(rng).items():
                    txn.put(_cell_key(new, column), value)
        done += 1
    return round(done / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description="the transport floor's RegionData server that does nothing")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certs-dir")
    parser.add_argument("--insecure", action="store_true")
    args = parser.parse_args()
    from regent import tls

    transport = INSECURE if args.insecure else Transport(tls.load(args.certs_dir, tls.NODE))
    asyncio.run(_serve(args.port, transport))


if __name__ == "__main__":
    main()
