"""What every part of the Thrift handler stands on: the gateway's shared state and one connection's view.

`Gateway` is shared by every Thrift connection: the SDK connection to the cluster (its location cache and
channels), the scanner registry, and the limits. `Calls` is the base of the handler's parts; one instance
serves one Thrift connection (`owner` is that connection's number, for the scanners it opens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.thrift.convert import table_name
from gateway.thrift.scanners import ScannerRegistry

if TYPE_CHECKING:
    from client.admin import Admin
    from client.connection import Connection
    from client.table import Table

#: The most rows one scannerGetList answers (a client asking for more gets this many; it asks again).
MAX_ROWS_PER_CALL = 10_000


@dataclass(slots=True)
class Gateway:
    connection: Connection
    scanners: ScannerRegistry
    max_rows_per_call: int = MAX_ROWS_PER_CALL

    def table(self, name: object) -> Table:
        return self.connection.table(table_name(name))

    def admin(self) -> Admin:
        return self.connection.admin()


class Calls:
    def __init__(self, gateway: Gateway, owner: int) -> None:
        self.gateway = gateway
        self.owner = owner


__all__ = ["MAX_ROWS_PER_CALL", "Calls", "Gateway"]
