"""The catalog: domain types, the region state machine, meta's LMDB store and its single writer."""

from meta.batch import DATABASES, WriteBatch
from meta.codec import RegionStateRow
from meta.errors import (
    IllegalTransition,
    InvalidMutation,
    MetaClosedError,
    MetaCorruptError,
    MetaError,
    MetaForeignError,
    MetaNotInitialised,
    MetaOpenError,
    MetaWriteError,
)
from meta.states import TRANSITIONS, RegionState, transition
from meta.store import MetaStore
from meta.types import (
    ColumnFamily,
    RegionInfo,
    ServerName,
    TableDescriptor,
    TableSettings,
    TableState,
    TransitKind,
)
from meta.writer import MetaWriter

__all__ = [
    "DATABASES",
    "TRANSITIONS",
    "ColumnFamily",
    "IllegalTransition",
    "InvalidMutation",
    "MetaClosedError",
    "MetaCorruptError",
    "MetaError",
    "MetaForeignError",
    "MetaNotInitialised",
    "MetaOpenError",
    "MetaStore",
    "MetaWriteError",
    "MetaWriter",
    "RegionInfo",
    "RegionState",
    "RegionStateRow",
    "ServerName",
    "TableDescriptor",
    "TableSettings",
    "TableState",
    "TransitKind",
    "WriteBatch",
    "transition",
]
