"""Admin: DDL, region placement, procedures and cluster status, all answered by the active master.

The calls live with their concern: tables (client/tables.py), their families and settings
(client/schema.py), regions (client/regions.py) and their compaction (client/compaction.py), the balancer
and decommissioned servers (client/balance.py), the catalog janitor and hbck (client/consistency.py),
split and merge (client/split_merge.py);
procedures and the cluster's status are here. Admin is all of them in one object, as HBase's Admin is.

Arguments the SDK can check are checked before any RPC and raise ValueError: a mistake in a split key
list is the caller's bug and should point at the caller's line, not come back as a remote error. The
master checks everything again and refuses with a named error (client/errors.py).

Table procedures (create, delete, truncate, enable, disable, modify, families) wait for their end by
default, with one deadline (`timeout`, default the connection's) for the request and the wait;
wait=False returns a ProcedureHandle (client/procedure.py). Region procedures return their id.
"""

from __future__ import annotations

from client.balance import BalanceAdmin
from client.compaction import CompactionAdmin
from client.consistency import ConsistencyAdmin
from client.procedure import ProcedureHandle, abort_procedure, check_proc_id, get_procedure
from client.regions import server_text
from client.schema import SchemaAdmin
from client.split_merge import SplitMergeAdmin
from client.tables import check_split_keys
from client.types import (
    AbortResult,
    ClusterStatus,
    Procedure,
    cluster_status_from_proto,
    procedure_from_proto,
)
from regent.proto import master_pb2


class Admin(SchemaAdmin, CompactionAdmin, BalanceAdmin, ConsistencyAdmin, SplitMergeAdmin):
    """Administrative operations. Get one from `Connection.admin()`; it shares the connection's channels,
    so it is cheap and needs no closing of its own."""

    # ---- cluster ----

    def cluster_status(self, *, timeout: float | None = None) -> ClusterStatus:
        """The active master's view: live servers, regions in transition, counts by state, epoch."""
        request = master_pb2.ClusterStatusRequest()
        response: master_pb2.ClusterStatusResponse = self._call(
            "ClusterStatus", request, self._deadline(timeout)
        )
        return cluster_status_from_proto(response)

    # ---- procedures ----

    def list_procedures(self, *, limit: int = 1000, timeout: float | None = None) -> list[Procedure]:
        """The procedures the master is running, with their kind, state, current step, progress and age
        (every table and server crash procedure, then at most `limit` region procedures by id)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 2**32 - 1:
            raise ValueError(f"limit must be a whole number 1..{2**32 - 1}, got {limit!r}")
        request = master_pb2.ListProceduresRequest(limit=limit)
        response: master_pb2.ListProceduresResponse = self._call(
            "ListProcedures", request, self._deadline(timeout)
        )
        return [procedure_from_proto(p) for p in response.procedures]

    def get_procedure(self, proc_id: int, *, timeout: float | None = None) -> Procedure:
        """Procedure `proc_id` now: running (WAITING, RUNNABLE) or finished (SUCCESS, FAILED, ROLLED_BACK,
        kept 10 minutes). ProcedureNotFound for an unknown id, and for a region transition that is done."""
        return get_procedure(self._conn, proc_id, timeout)

    def procedure(self, proc_id: int) -> ProcedureHandle:
        """A handle on table procedure `proc_id`, submitted by anyone: to wait for it or follow it."""
        check_proc_id(proc_id)
        return ProcedureHandle(self._conn, proc_id)

    def abort_procedure(self, proc_id: int, *, timeout: float | None = None) -> AbortResult:
        """Ask the master to roll procedure `proc_id` back. rolled_back=True: it will end ROLLED_BACK
        (wait for it with `procedure(proc_id).wait()`, which then raises ProcedureAborted); False: it had
        passed its point of no return, or had finished, and carries on (`message` says which)."""
        return abort_procedure(self._conn, proc_id, timeout)

    def bypass(self, proc_id: int, *, timeout: float | None = None) -> None:
        """Force procedure `proc_id` to end now, as HBCK2's bypass does, for a procedure that is stuck.

        A region transition ends with the region ABNORMALLY_CLOSED and no procedure (a close is sent to its
        server to be sure it serves nothing); assign it again when its cause is fixed. A server crash
        procedure ends without recovering the rest of its regions. ProcedureNotFound if none has that id.
        """
        self._call("Bypass", master_pb2.BypassRequest(proc_id=proc_id), self._deadline(timeout))


__all__ = ["Admin", "check_split_keys", "server_text"]
