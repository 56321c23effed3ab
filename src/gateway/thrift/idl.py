"""HBase's Thrift1 IDL (`Hbase.thrift`), loaded once with thriftpy2.

The file beside this module is HBase's own IDL as happybase ships it (Apache-2.0, unchanged; a test checks
that it still equals happybase's copy), so the gateway and happybase agree on every struct and field id by
construction. thriftpy2 parses it at import time into a module of classes: `Hbase` (the service: its
`thrift_services`, and `<method>_args` / `<method>_result` structs), the structs (TCell, TRowResult, ...)
and the exceptions (IOError, IllegalArgument, AlreadyExists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import thriftpy2

IDL_PATH = Path(__file__).with_name("Hbase.thrift")

#: The loaded IDL module (a thriftpy2-generated module: attributes are made at run time, hence Any).
hbase: Any = thriftpy2.load(str(IDL_PATH), module_name="regent_hbase_thrift")

Hbase: Any = hbase.Hbase
TCell: Any = hbase.TCell
TColumn: Any = hbase.TColumn
TRowResult: Any = hbase.TRowResult
TRegionInfo: Any = hbase.TRegionInfo
ColumnDescriptor: Any = hbase.ColumnDescriptor
Mutation: Any = hbase.Mutation
BatchMutation: Any = hbase.BatchMutation
TScan: Any = hbase.TScan
IOError: Any = hbase.IOError
IllegalArgument: Any = hbase.IllegalArgument
AlreadyExists: Any = hbase.AlreadyExists

#: Every method of the service, as the IDL declares them.
METHODS: tuple[str, ...] = tuple(Hbase.thrift_services)

__all__ = [
    "IDL_PATH",
    "METHODS",
    "AlreadyExists",
    "BatchMutation",
    "ColumnDescriptor",
    "Hbase",
    "IOError",
    "IllegalArgument",
    "Mutation",
    "TCell",
    "TColumn",
    "TRegionInfo",
    "TRowResult",
    "TScan",
    "hbase",
]
