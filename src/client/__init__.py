"""The SDK: Connection, Admin, region location cache, retries. Reached through `regent.connect()`.

    import regent
    with regent.connect("127.0.0.1:16000") as conn:
        admin = conn.admin()
        admin.create_table("t1", {"f": {"max_versions": 3}}, num_regions=16)
        admin.disable_table("t1")
        admin.delete_table("t1")

Everything a caller may touch is re-exported here; the modules behind it (connection, admin and the
tables/schema/regions parts it is made of, procedure, errors, types) are the implementation.
docs/admin.md is the guide.
"""

from __future__ import annotations

from client.admin import Admin
from client.balance import BalancerRun, BalancerStatus, DecommissionedServer, PlannedMove
from client.connection import Connection
from client.consistency import CatalogJanitorStatus, CheckReport, Finding
from client.errors import (
    FamilyExists,
    FamilyNotFound,
    InvalidArgument,
    MasterUnavailable,
    NotActiveMaster,
    PermissionDenied,
    ProcedureAborted,
    ProcedureFailed,
    ProcedureNotFound,
    ProcedureTimeout,
    RegentError,
    RegionInTransition,
    RegionNotFound,
    ServerNotFound,
    TableExists,
    TableLocked,
    TableNotDisabled,
    TableNotEnabled,
    TableNotFound,
    TlsMismatch,
    Unauthenticated,
    from_rpc_error,
)
from client.procedure import ProcedureHandle
from client.types import (
    AbortResult,
    ClusterStatus,
    LiveServer,
    Procedure,
    RegionLocation,
    RegionStory,
    StoryStep,
    TableDescription,
)
from meta.types import ColumnFamily, TableSettings, TableState

__all__ = [
    "AbortResult",
    "Admin",
    "BalancerRun",
    "BalancerStatus",
    "CatalogJanitorStatus",
    "CheckReport",
    "ClusterStatus",
    "ColumnFamily",
    "Connection",
    "DecommissionedServer",
    "FamilyExists",
    "FamilyNotFound",
    "Finding",
    "InvalidArgument",
    "LiveServer",
    "MasterUnavailable",
    "NotActiveMaster",
    "PermissionDenied",
    "PlannedMove",
    "Procedure",
    "ProcedureAborted",
    "ProcedureFailed",
    "ProcedureHandle",
    "ProcedureNotFound",
    "ProcedureTimeout",
    "RegentError",
    "RegionInTransition",
    "RegionLocation",
    "RegionNotFound",
    "RegionStory",
    "ServerNotFound",
    "StoryStep",
    "TableDescription",
    "TableExists",
    "TableLocked",
    "TableNotDisabled",
    "TableNotEnabled",
    "TableNotFound",
    "TableSettings",
    "TableState",
    "TlsMismatch",
    "Unauthenticated",
    "from_rpc_error",
]
