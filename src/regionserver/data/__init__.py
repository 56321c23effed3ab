"""The data path of a RegionServer (DESIGN §11): region stores with HBase's data model, scanners, filters.

The public face of the package: what the RPC layer and the tests use. docs/architecture.md, "The region
store", describes the key layout, group commit, the LRU of environments and compaction.
"""

from regionserver.data.cells import Cell
from regionserver.data.compaction import CompactionStats, compact, compact_while_serving
from regionserver.data.environments import Claim, Environments, region_dir, regions_with_store
from regionserver.data.errors import (
    BadMutation,
    CellTooLarge,
    Fenced,
    NoSuchFamily,
    NotACounter,
    RowError,
    RowTooLong,
    StoreError,
)
from regionserver.data.mutations import (
    CheckAndPut,
    DeleteColumn,
    DeleteFamily,
    DeleteRow,
    DeleteVersion,
    Get,
    Increment,
    Put,
    RowMutation,
    Scan,
    ScanFilter,
    TimeRange,
)
from regionserver.data.region_store import MAX_CELL_BYTES, RegionStore, families_of
from regionserver.data.scanner import Scanner
from regionserver.data.writer import RegionWriter, WriterClosed

__all__ = [
    "MAX_CELL_BYTES",
    "BadMutation",
    "Cell",
    "CellTooLarge",
    "CheckAndPut",
    "Claim",
    "CompactionStats",
    "DeleteColumn",
    "DeleteFamily",
    "DeleteRow",
    "DeleteVersion",
    "Environments",
    "Fenced",
    "Get",
    "Increment",
    "NoSuchFamily",
    "NotACounter",
    "Put",
    "RegionStore",
    "RegionWriter",
    "RowError",
    "RowMutation",
    "RowTooLong",
    "Scan",
    "ScanFilter",
    "Scanner",
    "StoreError",
    "TimeRange",
    "WriterClosed",
    "compact",
    "compact_while_serving",
    "families_of",
    "region_dir",
    "regions_with_store",
]
