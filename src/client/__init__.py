"""The SDK: Connection, Admin, region location cache, retries. Reached through `regent.connect()`.

    import regent
    with regent.connect("127.0.0.1:16000") as conn:
        admin = conn.admin()
        admin.create_table("t1", {"f": {"max_versions": 3}}, num_regions=16)
        table = conn.table("t1")
        table.put(b"row", {b"f:a": b"1"})
        admin.disable_table("t1")
        admin.delete_table("t1")

Everything a caller may touch is re-exported here; the modules behind it (connection, admin and the
tables/schema/regions/compaction parts it is made of, procedure, errors, types; table, batch and the data
path behind them: locations, routing, retry, scanning, operations) are the implementation.
docs/admin.md and docs/data.md are the guides.
"""

from __future__ import annotations

from client.admin import Admin
from client.balance import BalancerRun, BalancerStatus, DecommissionedServer, PlannedMove
from client.batch import Batch
from client.compaction import RegionCompaction
from client.connection import Connection
from client.consistency import CatalogJanitorStatus, CheckReport, Finding, SplitParent
from client.errors import (
    BadMutation,
    CellTooLarge,
    DataTimeout,
    FamilyExists,
    FamilyNotFound,
    FilterSyntax,
    InvalidArgument,
    MasterUnavailable,
    MergeDisabled,
    NoSuchFamily,
    NotACounter,
    NotActiveMaster,
    PermissionDenied,
    ProcedureAborted,
    ProcedureFailed,
    ProcedureNotFound,
    ProcedureTimeout,
    RegentError,
    RegionHasReferences,
    RegionInTransition,
    RegionNotFound,
    RowRefused,
    RowsFailed,
    RowTooLong,
    ScannerNotFound,
    ServerNotFound,
    SplitDisabled,
    SplitRefused,
    TableExists,
    TableLocked,
    TableNotDisabled,
    TableNotEnabled,
    TableNotFound,
    TlsMismatch,
    TooManyScanners,
    Unauthenticated,
    from_rpc_error,
)
from client.normalizer import NormalizationPlan, NormalizerRun, NormalizerStatus
from client.procedure import ProcedureHandle
from client.split_merge import SplitMergeStatus
from client.table import Table
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
    "BadMutation",
    "BalancerRun",
    "BalancerStatus",
    "Batch",
    "CatalogJanitorStatus",
    "CellTooLarge",
    "CheckReport",
    "ClusterStatus",
    "ColumnFamily",
    "Connection",
    "DataTimeout",
    "DecommissionedServer",
    "FamilyExists",
    "FamilyNotFound",
    "FilterSyntax",
    "Finding",
    "InvalidArgument",
    "LiveServer",
    "MasterUnavailable",
    "MergeDisabled",
    "NoSuchFamily",
    "NormalizationPlan",
    "NormalizerRun",
    "NormalizerStatus",
    "NotACounter",
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
    "RegionCompaction",
    "RegionHasReferences",
    "RegionInTransition",
    "RegionLocation",
    "RegionNotFound",
    "RegionStory",
    "RowRefused",
    "RowTooLong",
    "RowsFailed",
    "ScannerNotFound",
    "ServerNotFound",
    "SplitDisabled",
    "SplitMergeStatus",
    "SplitParent",
    "SplitRefused",
    "StoryStep",
    "Table",
    "TableDescription",
    "TableExists",
    "TableLocked",
    "TableNotDisabled",
    "TableNotEnabled",
    "TableNotFound",
    "TableSettings",
    "TableState",
    "TlsMismatch",
    "TooManyScanners",
    "Unauthenticated",
    "from_rpc_error",
]
