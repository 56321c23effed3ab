"""Procedures: persisted multi-step operations of the master (DESIGN.md §6), one module per kind, and the
executor that runs them. Region transitions (assign, unassign, move, reopen) are not here: each is a compact
procedure kept in its region's own region_state row (master.assignment)."""

from master.procedures.base import Env, Outcome, Procedure, ProcState
from master.procedures.create_table import CreateTable
from master.procedures.delete_table import DeleteTable
from master.procedures.disable_table import DisableTable
from master.procedures.enable_table import EnableTable
from master.procedures.executor import Executor, ProcedureView
from master.procedures.merge_regions import MergeRegions
from master.procedures.modify_table import ModifyTable
from master.procedures.server_crash import ServerCrash
from master.procedures.split_region import SplitRegion
from master.procedures.truncate_table import TruncateTable

#: Every kind the executor can resume from a record, by its stored name.
KINDS: dict[str, type[Procedure]] = {
    kind.KIND: kind
    for kind in (
        CreateTable,
        DeleteTable,
        DisableTable,
        EnableTable,
        MergeRegions,
        ModifyTable,
        ServerCrash,
        SplitRegion,
        TruncateTable,
    )
}

__all__ = [
    "KINDS",
    "CreateTable",
    "DeleteTable",
    "DisableTable",
    "EnableTable",
    "Env",
    "Executor",
    "MergeRegions",
    "ModifyTable",
    "Outcome",
    "ProcState",
    "Procedure",
    "ProcedureView",
    "ServerCrash",
    "SplitRegion",
    "TruncateTable",
]
