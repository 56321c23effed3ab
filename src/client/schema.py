"""Admin's schema calls: change a table's settings and families.

The master applies a new descriptor with a procedure that reopens the table's regions (so that each
RegionServer serves it with the new families), and the call waits for it as every DDL call does.
ModifyTableRequest carries the whole new descriptor: what the caller leaves out (families=None, a setting
not given) is taken from the table as DescribeTable shows it just before.
"""

from __future__ import annotations

from typing import Literal, overload

from client.procedure import ProcedureHandle
from client.tables import Families, TableAdmin, families_of, table_settings
from meta.codec import family_to_proto, settings_to_proto
from meta.types import ColumnFamily, TableDescriptor, TableSettings, validate_name
from regent.proto import master_pb2


class SchemaAdmin(TableAdmin):
    """Changing what a table is: its settings and its column families."""

    @overload
    def modify_table(
        self,
        name: str,
        *,
        families: Families | None = ...,
        settings: TableSettings | None = ...,
        max_region_size: int | None = ...,
        split_enabled: bool | None = ...,
        merge_enabled: bool | None = ...,
        normalization_enabled: bool | None = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
    ) -> None: ...
    @overload
    def modify_table(
        self,
        name: str,
        *,
        families: Families | None = ...,
        settings: TableSettings | None = ...,
        max_region_size: int | None = ...,
        split_enabled: bool | None = ...,
        merge_enabled: bool | None = ...,
        normalization_enabled: bool | None = ...,
        wait: Literal[False],
        timeout: float | None = ...,
    ) -> ProcedureHandle: ...
    def modify_table(
        self,
        name: str,
        *,
        families: Families | None = None,
        settings: TableSettings | None = None,
        max_region_size: int | None = None,
        split_enabled: bool | None = None,
        merge_enabled: bool | None = None,
        normalization_enabled: bool | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> ProcedureHandle | None:
        """Give table `name` new families and/or settings, then reopen its regions with them.

        `families` (as for create_table) replaces the whole list: families left out are deleted with
        their data. None keeps the current ones. The settings start from `settings`, or from the table's
        current settings when it is None, and the keyword arguments that are given override them.
        """
        deadline = self._deadline(timeout)
        current = self.describe_table(name, timeout=self._remaining(deadline))
        descriptor = TableDescriptor(
            name,
            current.families if families is None else families_of(families),
            settings=table_settings(
                current.settings if settings is None else settings,
                max_region_size=max_region_size,
                split_enabled=split_enabled,
                merge_enabled=merge_enabled,
                normalization_enabled=normalization_enabled,
            ),
        )
        request = master_pb2.ModifyTableRequest(
            name=name,
            families=[family_to_proto(f) for f in descriptor.families],
            settings=settings_to_proto(descriptor.settings),
        )
        return self._submit(
            "ModifyTable", request, kind="modify_table", table=name, wait=wait, deadline=deadline
        )

    @overload
    def add_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = ...,
        min_versions: int | None = ...,
        ttl: int | None = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
    ) -> None: ...
    @overload
    def add_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = ...,
        min_versions: int | None = ...,
        ttl: int | None = ...,
        wait: Literal[False],
        timeout: float | None = ...,
    ) -> ProcedureHandle: ...
    def add_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = None,
        min_versions: int | None = None,
        ttl: int | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> ProcedureHandle | None:
        """Add column family `family` (a name with the keyword settings, or a ColumnFamily) to `table`.
        FamilyExists if the table has one of that name."""
        base = ColumnFamily(family) if isinstance(family, str) else None
        cf = _family(family, base, max_versions, min_versions, ttl)
        request = master_pb2.FamilyRequest(table=table, family=family_to_proto(cf))
        return self._submit(
            "AddFamily", request, kind="add_family", table=table, wait=wait, deadline=self._deadline(timeout)
        )

    @overload
    def modify_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = ...,
        min_versions: int | None = ...,
        ttl: int | None = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
    ) -> None: ...
    @overload
    def modify_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = ...,
        min_versions: int | None = ...,
        ttl: int | None = ...,
        wait: Literal[False],
        timeout: float | None = ...,
    ) -> ProcedureHandle: ...
    def modify_family(
        self,
        table: str,
        family: str | ColumnFamily,
        *,
        max_versions: int | None = None,
        min_versions: int | None = None,
        ttl: int | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> ProcedureHandle | None:
        """Change column family `family` of `table`: a ColumnFamily replaces it whole; a name changes the
        settings given as keywords and keeps the others as the table has them. FamilyNotFound if none.
        (A ttl cannot be reset to forever by keyword: pass a ColumnFamily with ttl=None.)"""
        deadline = self._deadline(timeout)
        current: ColumnFamily | None = None
        if isinstance(family, str):
            validate_name(family, "column family")
            # Unknown here: send the defaults with the changes and let the master say FamilyNotFound.
            described = self.describe_table(table, timeout=self._remaining(deadline))
            current = described.family(family) or ColumnFamily(family)
        cf = _family(family, current, max_versions, min_versions, ttl)
        request = master_pb2.FamilyRequest(table=table, family=family_to_proto(cf))
        return self._submit(
            "ModifyFamily", request, kind="modify_family", table=table, wait=wait, deadline=deadline
        )

    @overload
    def delete_family(
        self, table: str, family: str, *, wait: Literal[True] = ..., timeout: float | None = ...
    ) -> None: ...
    @overload
    def delete_family(
        self, table: str, family: str, *, wait: Literal[False], timeout: float | None = ...
    ) -> ProcedureHandle: ...
    def delete_family(
        self, table: str, family: str, *, wait: bool = True, timeout: float | None = None
    ) -> ProcedureHandle | None:
        """Remove column family `family` and its data from `table`. FamilyNotFound if it has none; the
        last family cannot be removed (InvalidArgument): delete the table instead."""
        validate_name(family, "column family")
        request = master_pb2.DeleteFamilyRequest(table=table, family=family)
        return self._submit(
            "DeleteFamily",
            request,
            kind="delete_family",
            table=table,
            wait=wait,
            deadline=self._deadline(timeout),
        )


def _family(
    family: str | ColumnFamily,
    base: ColumnFamily | None,
    max_versions: int | None,
    min_versions: int | None,
    ttl: int | None,
) -> ColumnFamily:
    """The family to send: a ColumnFamily as given (no keywords allowed beside it), or `base` with the
    keyword settings that are not None put over it."""
    given = (("max_versions", max_versions), ("min_versions", min_versions), ("ttl", ttl))
    changes = {k: v for k, v in given if v is not None}
    if isinstance(family, ColumnFamily):
        if changes:
            raise ValueError(
                f"column family {family.name!r}: give a ColumnFamily or settings by keyword, not both "
                f"({', '.join(changes)} given)"
            )
        return family
    if not isinstance(family, str) or base is None:
        raise ValueError(f"a column family is a name (str) or a ColumnFamily, got {family!r}")
    return ColumnFamily(
        family,
        max_versions=changes.get("max_versions", base.max_versions),
        min_versions=changes.get("min_versions", base.min_versions),
        ttl=changes.get("ttl", base.ttl),
    )


__all__ = ["SchemaAdmin"]
