"""What every part of Admin shares: the connection, one deadline per call, and submitting a procedure.

A call that submits a procedure and waits for it has one deadline for both (so `timeout` means what a
caller expects: the whole call), taken from the connection's default timeout when none is given.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import TYPE_CHECKING, Any

from client.procedure import ProcedureHandle, wait_for

if TYPE_CHECKING:
    from client.connection import Connection

#: The metadata key of a procedure-submitting request's nonce ("<group>:<n>"; master.services reads it):
#: a group per process, as HBase's nonce group per client, and a counter within it.
NONCE_KEY = "regent-nonce"
_NONCE_GROUP = uuid.uuid4().hex
_nonces = itertools.count(1)


class AdminBase:
    """The state and helpers the Admin mixins (tables, schema, regions) build on."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self._conn.timeout if timeout is None else timeout)

    @staticmethod
    def _remaining(deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def _call(self, method: str, request: Any, deadline: float, *, once: bool = False) -> Any:
        """Call the active master. `once`: the request submits a procedure, and carries a nonce that
        every retry of it repeats, so that a master that made it durable before it died (or whose answer
        was lost) is not asked to run it twice: the next master answers with the same procedure."""
        metadata = ((NONCE_KEY, f"{_NONCE_GROUP}:{next(_nonces)}"),) if once else ()
        return self._conn._call(method, request, self._remaining(deadline), metadata=metadata)

    def _submit(
        self,
        method: str,
        request: Any,
        *,
        kind: str,
        table: str,
        wait: bool,
        deadline: float,
    ) -> ProcedureHandle | None:
        """Send a DDL request; with wait, wait for its procedure and return None, else return the handle."""
        response = self._call(method, request, deadline, once=True)
        handle = ProcedureHandle(self._conn, response.proc_id, kind=kind, table=table)
        if not wait:
            return handle
        self._await(handle, deadline)
        return None

    def _await(self, handle: ProcedureHandle, deadline: float) -> None:
        if handle.proc_id:  # 0: the master had nothing to run
            wait_for(self._conn, handle.proc_id, deadline)


__all__ = ["AdminBase"]
