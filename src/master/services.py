"""gRPC services of the master: they translate protobuf to domain calls and back, nothing more."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import grpc

from regent.proto import master_pb2, master_pb2_grpc

if TYPE_CHECKING:
    from master.daemon import Master


class MasterService(master_pb2_grpc.MasterServicer):
    def __init__(self, master: Master) -> None:
        self._master = master

    async def GetClusterInfo(
        self, request: master_pb2.GetClusterInfoRequest, context: grpc.aio.ServicerContext
    ) -> master_pb2.ClusterInfo:
        m = self._master
        return master_pb2.ClusterInfo(
            active=m.active,
            master_epoch=m.epoch,
            cluster_id=m.cluster_id,
            master=m.config.address,
            pid=os.getpid(),
        )
