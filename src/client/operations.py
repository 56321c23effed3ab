"""The data calls the router sends (Get, Mutate, Increment), built from and read into domain types.

Protobuf stops here: Table and Batch hand over rows, columns and Mutation values, and get back Cells and
RowRefused errors. Each class is an Operation of client/routing.py: it says which row an item is for, how a
request for some regions' items is built, and how the reply's regions are read.
"""

from __future__ import annotations

import enum
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from client.errors import RowRefused, row_error
from client.routing import RegionReply, refusal_from_proto
from regent.proto import data_pb2


class Cell(NamedTuple):
    """One version of one column. `timestamp` in milliseconds since the epoch. (A NamedTuple: a read of
    many rows builds one per cell, and a tuple is built several times faster than a frozen dataclass.)"""

    family: bytes
    qualifier: bytes
    timestamp: int
    value: bytes

    @property
    def column(self) -> bytes:
        return self.family + b":" + self.qualifier


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[min, max) in milliseconds; max None for no upper bound."""

    min: int = 0
    max: int | None = None

    def to_proto(self) -> data_pb2.TimeRange:
        return data_pb2.TimeRange(min=self.min, max=self.max or 0)


class Kind(enum.IntEnum):
    """Mutation.Kind of data.proto."""

    PUT = 0
    DELETE_ROW = 1
    DELETE_FAMILY = 2
    DELETE_COLUMN = 3
    DELETE_VERSION = 4


class Mutation(NamedTuple):
    """A put of one cell, or a delete (of the row, a family or a column: every version at or below
    `timestamp`, None meaning now; DELETE_VERSION: exactly the version at `timestamp`). A NamedTuple, as
    Cell: a batched load builds one per cell."""

    kind: Kind
    family: bytes = b""
    qualifier: bytes = b""
    value: bytes = b""
    timestamp: int | None = None

    def add_to(self, mutations: Any) -> None:
        """Append this mutation to a repeated Mutation field (built in place: no message copied)."""
        if self.timestamp is None:
            mutations.add(kind=self.kind, family=self.family, qualifier=self.qualifier, value=self.value)
        else:
            mutations.add(
                kind=self.kind,
                family=self.family,
                qualifier=self.qualifier,
                value=self.value,
                timestamp=self.timestamp,
            )


@dataclass(frozen=True, slots=True)
class RowChange:
    """Mutations of one row, applied in order, all or nothing."""

    row: bytes
    mutations: tuple[Mutation, ...]


def _new_nonce_group() -> int:
    return secrets.randbits(64)


#: This process's nonce group (HBase's, per client): with each increment's nonce, it names the increment
#: across its attempts, so the RegionServer applies a retried one once (regionserver.data.nonces). A
#: forked child draws its own.
NONCE_GROUP = _new_nonce_group()


def _reset_nonce_group() -> None:
    global NONCE_GROUP
    NONCE_GROUP = _new_nonce_group()


os.register_at_fork(after_in_child=_reset_nonce_group)


def _new_nonce() -> int:
    return secrets.randbits(64) or 1  # 0 means "no nonce"


@dataclass(frozen=True, slots=True)
class RowIncrement:
    """Increments of one row's counters. Its nonce is drawn once, when it is made, and sent with every
    attempt: a retry after a lost answer is then answered, not applied again (an increment by nothing
    carries none: applying it twice changes nothing)."""

    row: bytes
    columns: tuple[bytes, ...]
    amounts: tuple[int, ...]
    nonce: int = field(default_factory=_new_nonce)

    def __post_init__(self) -> None:
        if not any(self.amounts):
            object.__setattr__(self, "nonce", 0)


def cells_from_proto(row: data_pb2.Row) -> list[Cell]:
    make = Cell._make
    return [make((c.family, c.qualifier, c.timestamp, c.value)) for c in row.cells]


class GetRows:
    """Read the same columns of many rows: one list of cells per row (empty: not found)."""

    method = "Get"

    def __init__(self, columns: Sequence[bytes], max_versions: int, time_range: TimeRange | None) -> None:
        self.columns = list(columns)
        self.max_versions = max_versions
        self.time_range = time_range

    def row(self, item: bytes) -> bytes:
        return item

    def request(self, regions: Sequence[tuple[int, Sequence[bytes]]]) -> data_pb2.GetRequest:
        request = data_pb2.GetRequest(
            regions=[data_pb2.RegionRows(region_id=rid, rows=rows) for rid, rows in regions],
            columns=self.columns,
            max_versions=self.max_versions,
        )
        if self.time_range is not None:
            request.time_range.CopyFrom(self.time_range.to_proto())
        return request

    def replies(
        self, request: data_pb2.GetRequest, response: data_pb2.GetResponse
    ) -> list[RegionReply[list[Cell]]]:
        out: list[RegionReply[list[Cell]]] = []
        for region in response.regions:
            if region.HasField("error"):
                out.append(RegionReply(refusal_from_proto(region.error, region.region_id)))
            else:
                out.append(RegionReply(None, [cells_from_proto(r) for r in region.rows]))
        return out


class MutateRows:
    """Puts and deletes of many rows; per row None (written) or the RowRefused that kept it out."""

    method = "Mutate"

    def row(self, item: RowChange) -> bytes:
        return item.row

    def request(self, regions: Sequence[tuple[int, Sequence[RowChange]]]) -> data_pb2.MutateRequest:
        request = data_pb2.MutateRequest()
        for rid, changes in regions:
            region = request.regions.add(region_id=rid)
            for change in changes:
                mutations = region.rows.add(row=change.row).mutations
                for mutation in change.mutations:
                    mutation.add_to(mutations)
        return request

    def replies(
        self, request: data_pb2.MutateRequest, response: data_pb2.MutateResponse
    ) -> list[RegionReply[RowRefused | None]]:
        out: list[RegionReply[RowRefused | None]] = []
        for sent, region in zip(request.regions, response.regions, strict=False):
            if region.HasField("error"):
                out.append(RegionReply(refusal_from_proto(region.error, region.region_id)))
                continue
            errors = region.row_errors
            results: list[RowRefused | None] = [
                row_error(errors[i].code, errors[i].message, change.row) if i in errors else None
                for i, change in enumerate(sent.rows)
            ]
            out.append(RegionReply(None, results))
        return out


class IncrementRows:
    """Atomic increments of 8-byte counters; per row its new values, or the RowRefused."""

    method = "Increment"

    def row(self, item: RowIncrement) -> bytes:
        return item.row

    def request(self, regions: Sequence[tuple[int, Sequence[RowIncrement]]]) -> data_pb2.IncrementRequest:
        request = data_pb2.IncrementRequest(nonce_group=NONCE_GROUP)
        for rid, increments in regions:
            region = request.regions.add(region_id=rid)
            for inc in increments:
                region.rows.add(row=inc.row, columns=inc.columns, amounts=inc.amounts, nonce=inc.nonce)
        return request

    def replies(
        self, request: data_pb2.IncrementRequest, response: data_pb2.IncrementResponse
    ) -> list[RegionReply[list[int] | RowRefused]]:
        out: list[RegionReply[list[int] | RowRefused]] = []
        for sent, region in zip(request.regions, response.regions, strict=False):
            if region.HasField("error"):
                out.append(RegionReply(refusal_from_proto(region.error, region.region_id)))
                continue
            errors = region.row_errors
            results: list[list[int] | RowRefused] = [
                row_error(errors[i].code, errors[i].message, inc.row)
                if i in errors
                else list(region.rows[i].values)
                if i < len(region.rows)
                else []
                for i, inc in enumerate(sent.rows)
            ]
            out.append(RegionReply(None, results))
        return out


__all__ = [
    "Cell",
    "GetRows",
    "IncrementRows",
    "Kind",
    "MutateRows",
    "Mutation",
    "RowChange",
    "RowIncrement",
    "TimeRange",
    "cells_from_proto",
]
