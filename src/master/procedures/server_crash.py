"""server_crash: a RegionServer died; every region it held, or was opening or closing, is recovered.

The record is committed when the death is declared (with the server's dead mark); its one step recovers
the regions (reassigned, or closed for a table that is not enabled) and ends the procedure in the same
transaction. A master taking over finishes every unfinished one in its first batch: its takeover
recovers the regions of every server that did not come back.
"""

from __future__ import annotations

from typing import Any

from master.procedures.base import Env, Outcome, Procedure
from meta import ServerName
from meta.codec import intern_server, server_from_proto, server_to_proto
from regent.proto import common_pb2


class ServerCrash(Procedure):
    KIND = "server_crash"
    FIRST = "recover"
    STEPS = {"recover": "recover the regions of the dead server"}

    def __init__(self, proc_id: int, table: str, data: Any) -> None:
        super().__init__(proc_id, "", data)
        self.server: ServerName = intern_server(server_from_proto(data))

    @classmethod
    def new(cls, proc_id: int, server: ServerName) -> ServerCrash:
        return cls(proc_id, "", server_to_proto(server))

    @classmethod
    def decode_payload(cls, raw: bytes) -> Any:
        return common_pb2.ServerName.FromString(raw)

    def abortable(self) -> bool:
        return False  # nothing to roll back to: the server is dead either way

    def describe_step(self) -> str:
        return f"recover the regions of {self.server}"

    def step_recover(self, env: Env) -> Outcome:
        return Outcome(next=None, effects=env.am.server_dead(self.server))
