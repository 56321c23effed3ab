"""The floor of `regent bench assign`: the same orders and reports through the same gRPC and LMDB layers,
with no coordination logic (no state machine, no placement, no validation).

    python -m regent.bench.floor master --rootdir D --port P --servers host:port,... --regions N
    python -m regent.bench.floor rs --port P --master host:port

The floor master writes each chunk's OPENING rows through the MetaWriter, then sends the chunk as one
columnar ExecuteProcedures; a floor RegionServer echoes every order as an OPENED report, batched, one report
in flight; the master persists OPEN rows and answers. It prints the elapsed seconds as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import grpc

from master.catalog import uniform_split_keys
from meta import MetaStore, MetaWriter, WriteBatch
from meta.codec import pack_region_state
from regent.config import CHANNEL_OPTIONS, GRPC_OPTIONS, parse_address
from regent.proto import common_pb2, master_pb2, master_pb2_grpc, regionserver_pb2, regionserver_pb2_grpc

CHUNK = 5_000
REPORT_LIMIT = 50_000


class _FloorMaster(master_pb2_grpc.RegionServerStatusServicer):
    def __init__(self, writer: MetaWriter, regions: int) -> None:
        self.writer = writer
        self.remaining = regions
        self.done = asyncio.Event()

    async def ReportRegionStateTransition(
        self, request: master_pb2.ReportRegionStateTransitionRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ReportRegionStateTransitionResponse:
        server = f"{request.server.host}:{request.server.port}:{request.server.startcode}".encode()
        rows = []
        for batch in request.transitions:
            for rid, proc, seq in zip(batch.region_ids, batch.proc_ids, batch.open_seq_nums, strict=True):
                rows.append((rid.to_bytes(8, "big"), pack_region_state(2, 0, 0, proc, seq, server, b"")))
        await self.writer.write(WriteBatch().put_many("region_state", rows))
        self.remaining -= len(rows)
        if self.remaining <= 0:
            self.done.set()
        return master_pb2.ReportRegionStateTransitionResponse(
            results=[master_pb2.TransitionResult() for _ in request.transitions]
        )


async def _master(rootdir: Path, port: int, servers: list[str], regions: int) -> float:
    store = MetaStore.open(rootdir / "floor-meta")
    writer = MetaWriter(store)
    writer.start()
    servicer = _FloorMaster(writer, regions)  # type: ignore[abstract]  # only reports reach the floor
    server = grpc.aio.server(options=GRPC_OPTIONS)
    master_pb2_grpc.add_RegionServerStatusServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    bounds = [b"", *uniform_split_keys(regions), b""]
    stubs = [
        regionserver_pb2_grpc.RegionServerAdminStub(grpc.aio.insecure_channel(s, options=CHANNEL_OPTIONS))
        for s in servers
    ]
    for stub in stubs:  # wait until every floor RegionServer answers
        await stub.GetOnlineRegions(
            regionserver_pb2.GetOnlineRegionsRequest(), wait_for_ready=True, timeout=30
        )
    per = -(-regions // len(servers))

    async def chunk(k: int, lo: int, hi: int) -> None:
        ids = list(range(lo, hi))
        name = servers[k].encode() + b":1"
        rows = [(i.to_bytes(8, "big"), pack_region_state(1, 1, 0, i + 1, i + 1, name, b"")) for i in ids]
        await writer.write(WriteBatch().put_many("region_state", rows))
        host, port_ = servers[k].rsplit(":", 1)
        await stubs[k].ExecuteProcedures(
            regionserver_pb2.ExecuteProceduresRequest(
                target=common_pb2.ServerName(host=host, port=int(port_), startcode=1),
                opens=[
                    regionserver_pb2.TableOpens(
                        table="bench",
                        region_ids=ids,
                        proc_ids=[i + 1 for i in ids],
                        open_seq_nums=[i + 1 for i in ids],
                        start_keys=bounds[lo:hi],
                        end_keys=bounds[lo + 1 : hi + 1],
                    )
                ],
            ),
            timeout=60,
        )

    started = time.perf_counter()
    pending = []
    for start in range(0, per, CHUNK):
        for k in range(len(servers)):
            lo, hi = k * per + start, min(regions, k * per + min(per, start + CHUNK))
            if lo < hi:
                pending.append(asyncio.ensure_future(chunk(k, lo, hi)))
        await asyncio.sleep(0)
    await asyncio.gather(*pending)
    await servicer.done.wait()
    elapsed = time.perf_counter() - started
    await server.stop(0.5)
    await writer.stop()
    store.close()
    return elapsed


class _FloorRegionServer(regionserver_pb2_grpc.RegionServerAdminServicer):
    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: list[int] = []
        self.procs: list[int] = []
        self.seqs: list[int] = []
        self.ready = asyncio.Event()

    async def ExecuteProcedures(
        self, request: regionserver_pb2.ExecuteProceduresRequest, context: grpc.aio.ServicerContext
    ) -> regionserver_pb2.ExecuteProceduresResponse:
        for group in request.opens:
            self.ids += group.region_ids
            self.procs += group.proc_ids
            self.seqs += group.open_seq_nums
        self.ready.set()
        return regionserver_pb2.ExecuteProceduresResponse(accepted=len(self.ids))

    async def GetOnlineRegions(
        self, request: regionserver_pb2.GetOnlineRegionsRequest, context: grpc.aio.ServicerContext
    ) -> regionserver_pb2.GetOnlineRegionsResponse:
        return regionserver_pb2.GetOnlineRegionsResponse()

    async def DropRegion(
        self, request: regionserver_pb2.DropRegionRequest, context: grpc.aio.ServicerContext
    ) -> regionserver_pb2.DropRegionResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor has no test hooks")
        raise AssertionError("unreachable")

    async def AdoptRegion(
        self, request: regionserver_pb2.AdoptRegionRequest, context: grpc.aio.ServicerContext
    ) -> regionserver_pb2.AdoptRegionResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor has no test hooks")
        raise AssertionError("unreachable")

    async def report(self, master: str) -> None:
        stub = master_pb2_grpc.RegionServerStatusStub(
            grpc.aio.insecure_channel(master, options=CHANNEL_OPTIONS)
        )
        me = common_pb2.ServerName(host="127.0.0.1", port=self.port, startcode=1)
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.ids:
                ids, procs, seqs = (
                    self.ids[:REPORT_LIMIT],
                    self.procs[:REPORT_LIMIT],
                    self.seqs[:REPORT_LIMIT],
                )
                del self.ids[:REPORT_LIMIT], self.procs[:REPORT_LIMIT], self.seqs[:REPORT_LIMIT]
                await stub.ReportRegionStateTransition(
                    master_pb2.ReportRegionStateTransitionRequest(
                        server=me,
                        transitions=[
                            master_pb2.TransitionBatch(
                                code=master_pb2.OPENED, region_ids=ids, proc_ids=procs, open_seq_nums=seqs
                            )
                        ],
                    ),
                    wait_for_ready=True,
                    timeout=60,
                )


async def _regionserver(port: int, master: str) -> None:
    # SplitPoint and RegionSizes (issue 10) come with the store branch: until then the class is abstract
    servicer = _FloorRegionServer(port)  # type: ignore[abstract]
    server = grpc.aio.server(options=GRPC_OPTIONS)
    regionserver_pb2_grpc.add_RegionServerAdminServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await servicer.report(master)


def main() -> None:
    parser = argparse.ArgumentParser(description="floor processes of `regent bench assign`")
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("master")
    m.add_argument("--rootdir", type=Path, required=True)
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--servers", required=True)
    m.add_argument("--regions", type=int, required=True)
    r = sub.add_parser("rs")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--master", required=True)
    args = parser.parse_args()
    if args.role == "master":
        servers = [str(parse_address(s)) for s in args.servers.split(",")]
        print(
            json.dumps(
                {"floor_seconds": asyncio.run(_master(args.rootdir, args.port, servers, args.regions))}
            )
        )
    else:
        asyncio.run(_regionserver(args.port, args.master))


if __name__ == "__main__":
    main()
