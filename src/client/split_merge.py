"""Admin's split and merge calls, and their cluster-wide switches.

    admin.split(region_id)                 # at its middle row (its RegionServer chooses); waits
    admin.split("t1")                      # every region of t1, each at its own middle
    admin.split("t1", b"row-5000")         # the region of t1 holding that row, at that row
    admin.merge([r1, r2])                  # two or more adjacent regions of one table
    admin.merge([r1, r3], force=True)      # across a hole in the key space (never across a region)
    admin.split_switch(False)              # no split from now on (operator's, automatic or normalizer's)

Splits and merges are procedures of the master (split_region, merge_regions): their ids can be followed
with `admin.procedure(proc_id)` and aborted before their point of no return with `abort_procedure`. With
wait=True (the default) the call returns once they have finished, with one deadline (`timeout`) for the
request and the wait; a procedure that failed raises its named error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from client.base import AdminBase
from client.procedure import wait_for
from regent.proto import master_pb2

MAX_MERGE_REGIONS = 1000


@dataclass(frozen=True, slots=True)
class SplitMergeStatus:
    split_on: bool
    merge_on: bool
    splits_running: int
    merges_running: int


def _region_id(value: object, what: str = "a region id") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**64:
        raise ValueError(f"{what} is a whole number 1..2**64-1, got {value!r}")
    return value


class SplitMergeAdmin(AdminBase):
    """Splitting and merging regions."""

    def split(
        self,
        region: int | str,
        split_key: bytes | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> list[int]:
        """Split region `region` (an id), or every region of table `region` (a name; with `split_key`: the
        region holding that row). Without a split key each region splits at its middle row by size, as its
        RegionServer measures it; regions with no row to split at are skipped (a table's split fails only
        if none can be split). Return the procedure ids, waited for when `wait`."""
        if split_key is not None and (not isinstance(split_key, bytes) or not split_key):
            raise ValueError(f"a split key is non-empty bytes, got {split_key!r}")
        if isinstance(region, str):
            if not region:
                raise ValueError("a table name must not be empty")
            request = master_pb2.SplitRequest(table=region)
        else:
            request = master_pb2.SplitRequest(region_id=_region_id(region))
        if split_key is not None:
            request.split_key = split_key
        deadline = self._deadline(timeout)
        response: master_pb2.SplitResponse = self._call("Split", request, deadline, once=True)
        proc_ids = list(response.proc_ids)
        if wait:
            for proc_id in proc_ids:
                wait_for(self._conn, proc_id, deadline)
        return proc_ids

    def merge(
        self,
        region_ids: Iterable[int],
        *,
        force: bool = False,
        wait: bool = True,
        timeout: float | None = None,
    ) -> int:
        """Merge two or more adjacent regions of one table into one (with `force`, across a hole between
        them; never across another region). Return the procedure id, waited for when `wait`."""
        ids = [_region_id(r) for r in region_ids]
        if not 2 <= len(ids) <= MAX_MERGE_REGIONS:
            raise ValueError(f"a merge takes 2..{MAX_MERGE_REGIONS} regions, got {len(ids)}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"a merge takes distinct regions, got {ids}")
        request = master_pb2.MergeRequest(region_ids=ids, force=bool(force))
        deadline = self._deadline(timeout)
        response: master_pb2.ProcedureResponse = self._call("Merge", request, deadline, once=True)
        if wait:
            wait_for(self._conn, response.proc_id, deadline)
        return response.proc_id

    def split_switch(self, on: bool, *, timeout: float | None = None) -> bool:
        """Switch splits on or off cluster-wide (kept in meta); return the previous state. Off refuses
        every new split, an operator's, an automatic one and the normalizer's (SplitDisabled)."""
        return self._switch("split", on, timeout)

    def merge_switch(self, on: bool, *, timeout: float | None = None) -> bool:
        """Switch merges on or off cluster-wide (kept in meta); return the previous state."""
        return self._switch("merge", on, timeout)

    def split_merge_status(self, *, timeout: float | None = None) -> SplitMergeStatus:
        """The two switches and the splits and merges running now."""
        r: master_pb2.SplitMergeStatusResponse = self._call(
            "SplitMergeStatus", master_pb2.SplitMergeStatusRequest(), self._deadline(timeout)
        )
        return SplitMergeStatus(r.split_on, r.merge_on, r.splits_running, r.merges_running)

    def _switch(self, kind: str, on: bool, timeout: float | None) -> bool:
        if not isinstance(on, bool):
            raise ValueError(f"on must be True or False, got {on!r}")
        request = master_pb2.SplitMergeSwitchRequest(kind=kind, on=on)
        response: master_pb2.SplitMergeSwitchResponse = self._call(
            "SplitMergeSwitch", request, self._deadline(timeout)
        )
        return response.previous


__all__ = ["SplitMergeAdmin", "SplitMergeStatus"]
