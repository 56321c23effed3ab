"""The SDK: Connection, Admin, region location cache, retries. Reached through `regent.connect()`.

    import regent
    with regent.connect("127.0.0.1:16000") as conn:
        admin = conn.admin()
        admin.create_table("t1", ["f"], num_regions=16)

Everything a caller may touch is re-exported here; the modules behind it (connection, admin, errors, types)
are the implementation.
"""

from __future__ import annotations

from client.admin import Admin
from client.connection import Connection
from client.errors import (
    InvalidArgument,
    MasterUnavailable,
    NotActiveMaster,
    ProcedureNotFound,
    ProcedureTimeout,
    RegentError,
    RegionInTransition,
    RegionNotFound,
    ServerNotFound,
    TableExists,
    TableNotFound,
    from_rpc_error,
)
from client.types import ClusterStatus, LiveServer, Procedure, RegionLocation

__all__ = [
    "Admin",
    "ClusterStatus",
    "Connection",
    "InvalidArgument",
    "LiveServer",
    "MasterUnavailable",
    "NotActiveMaster",
    "Procedure",
    "ProcedureNotFound",
    "ProcedureTimeout",
    "RegentError",
    "RegionInTransition",
    "RegionLocation",
    "RegionNotFound",
    "ServerNotFound",
    "TableExists",
    "TableNotFound",
    "from_rpc_error",
]
