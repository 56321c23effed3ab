"""One-cell calls of the data RPCs (regent.v1.RegionData), for tests that need a cell written or read on one
region of one server: the per-region and per-row refusals of the answer are raised as exceptions.

Columns are b"family:qualifier"; the cell written has the server's "now" as its timestamp.
"""

from __future__ import annotations

from typing import Any

from regent.proto import data_pb2, data_pb2_grpc


class RegionRefused(Exception):
    """The server answered the region with a RegionError: `reason` is its name (MOVED, NOT_SERVING, ...)."""

    def __init__(self, error: data_pb2.RegionError) -> None:
        self.reason = data_pb2.RegionError.Reason.Name(error.reason)
        self.message = error.message
        self.moved_to = error.moved_to if error.HasField("moved_to") else None
        super().__init__(f"{self.reason}: {self.message}")


class RowRefused(Exception):
    """The server refused the row: `code` is the RowError's (RowTooLong, NoSuchFamily, ...)."""

    def __init__(self, error: data_pb2.RowError) -> None:
        self.code = error.code
        self.message = error.message
        super().__init__(f"{self.code}: {self.message}")


def put_request(region_id: int, row: bytes, column: bytes, value: bytes) -> data_pb2.MutateRequest:
    family, _, qualifier = column.partition(b":")
    mutation = data_pb2.Mutation(kind=data_pb2.Mutation.PUT, family=family, qualifier=qualifier, value=value)
    return data_pb2.MutateRequest(
        regions=[
            data_pb2.RegionMutations(
                region_id=region_id, rows=[data_pb2.RowMutation(row=row, mutations=[mutation])]
            )
        ]
    )


def put(
    stub: data_pb2_grpc.RegionDataStub | Any,
    region_id: int,
    row: bytes,
    column: bytes,
    value: bytes,
    timeout: float,
) -> None:
    """Write one cell; RegionRefused or RowRefused if the server refused it (grpc.RpcError if the call
    failed as a whole)."""
    response = stub.Mutate(put_request(region_id, row, column, value), timeout=timeout)
    (outcome,) = response.regions
    if outcome.HasField("error"):
        raise RegionRefused(outcome.error)
    if 0 in outcome.row_errors:
        raise RowRefused(outcome.row_errors[0])


def get(
    stub: data_pb2_grpc.RegionDataStub | Any, region_id: int, row: bytes, column: bytes, timeout: float
) -> bytes | None:
    """The newest value of one cell, None if it has none; RegionRefused if the server refused the region."""
    response = stub.Get(
        data_pb2.GetRequest(regions=[data_pb2.RegionRows(region_id=region_id, rows=[row])], columns=[column]),
        timeout=timeout,
    )
    (result,) = response.regions
    if result.HasField("error"):
        raise RegionRefused(result.error)
    (found,) = result.rows
    return found.cells[0].value if found.cells else None
