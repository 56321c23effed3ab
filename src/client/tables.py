"""Admin's table calls: create, delete, truncate, enable, disable, and reading tables back.

Every call that changes a table submits a procedure to the master and, with wait=True (the default),
returns once it has ended with SUCCESS; wait=False returns its ProcedureHandle at once. A procedure that
ends FAILED or ROLLED_BACK raises the error it names (TableNotEnabled, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from client.base import AdminBase
from client.errors import TableNotFound
from client.procedure import ProcedureHandle
from client.types import RegionLocation, TableDescription, location_from_proto, table_description_from_proto
from meta.codec import family_to_proto, settings_to_proto
from meta.types import MAX_BOUNDARY_KEY, ColumnFamily, TableDescriptor, TableSettings, validate_table_name
from regent.proto import master_pb2

#: The largest region count a CreateTableRequest can carry (a uint32 field).
MAX_NUM_REGIONS = 2**32 - 1

#: The settings a column family takes, as keys of a settings mapping.
FAMILY_SETTINGS = ("max_versions", "min_versions", "ttl")

#: What `families` may be: names or ColumnFamily values, or a mapping of name -> settings.
Families = Iterable[str | ColumnFamily] | Mapping[str, Mapping[str, Any] | ColumnFamily | None]


class TableAdmin(AdminBase):
    """Creating, removing and switching tables; describing and listing them."""

    @overload
    def create_table(
        self,
        name: str,
        families: Families,
        *,
        split_keys: Sequence[bytes] | None = ...,
        num_regions: int | None = ...,
        settings: TableSettings | None = ...,
        max_region_size: int | None = ...,
        split_enabled: bool | None = ...,
        merge_enabled: bool | None = ...,
        normalization_enabled: bool | None = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
    ) -> int: ...
    @overload
    def create_table(
        self,
        name: str,
        families: Families,
        *,
        split_keys: Sequence[bytes] | None = ...,
        num_regions: int | None = ...,
        settings: TableSettings | None = ...,
        max_region_size: int | None = ...,
        split_enabled: bool | None = ...,
        merge_enabled: bool | None = ...,
        normalization_enabled: bool | None = ...,
        wait: Literal[False],
        timeout: float | None = ...,
    ) -> ProcedureHandle: ...
    def create_table(
        self,
        name: str,
        families: Families,
        *,
        split_keys: Sequence[bytes] | None = None,
        num_regions: int | None = None,
        settings: TableSettings | None = None,
        max_region_size: int | None = None,
        split_enabled: bool | None = None,
        merge_enabled: bool | None = None,
        normalization_enabled: bool | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> int | ProcedureHandle:
        """Create table `name`; return the number of regions once every one of them is assigned.

        `families` are names (max_versions 1), ColumnFamily values, or a mapping of name -> settings,
        where settings are a ColumnFamily, None (the defaults) or a dict of max_versions, min_versions
        and ttl (seconds, None for forever): ``{"cf": {"max_versions": 3}, "meta": None}``.
        The regions are given by `split_keys` (sorted, distinct, non-empty: n keys make n+1 regions), or
        `num_regions` spread over the byte key space, or neither for one region. Table settings come from
        `settings` and/or the keyword arguments, which override it. With wait=False, return the
        ProcedureHandle at once; its `regions` is the number of regions being created.
        """
        descriptor = TableDescriptor(
            name,
            families_of(families),
            settings=table_settings(
                settings,
                max_region_size=max_region_size,
                split_enabled=split_enabled,
                merge_enabled=merge_enabled,
                normalization_enabled=normalization_enabled,
            ),
        )
        request = master_pb2.CreateTableRequest(
            name=descriptor.name,
            families=[family_to_proto(f) for f in descriptor.families],
            settings=settings_to_proto(descriptor.settings),
        )
        if split_keys is not None and num_regions is not None:
            raise ValueError(f"table {name!r}: give split_keys or num_regions, not both")
        if split_keys is not None:
            request.split_keys.extend(check_split_keys(name, split_keys))
        if num_regions is not None:
            if isinstance(num_regions, bool) or not isinstance(num_regions, int):
                raise ValueError(f"table {name!r}: num_regions must be a whole number, got {num_regions!r}")
            if not 1 <= num_regions <= MAX_NUM_REGIONS:
                raise ValueError(
                    f"table {name!r}: num_regions must be 1..{MAX_NUM_REGIONS}, got {num_regions}"
                )
            request.num_regions = num_regions
        deadline = self._deadline(timeout)
        response: master_pb2.CreateTableResponse = self._call("CreateTable", request, deadline, once=True)
        handle = ProcedureHandle(
            self._conn, response.proc_id, kind="create_table", table=name, regions=response.regions
        )
        if not wait:
            return handle
        self._await(handle, deadline)
        return response.regions

    @overload
    def delete_table(self, name: str, *, wait: Literal[True] = ..., timeout: float | None = ...) -> None: ...
    @overload
    def delete_table(
        self, name: str, *, wait: Literal[False], timeout: float | None = ...
    ) -> ProcedureHandle: ...
    def delete_table(
        self, name: str, *, wait: bool = True, timeout: float | None = None
    ) -> ProcedureHandle | None:
        """Delete table `name`, its regions and their data. The table must be disabled first
        (TableNotDisabled otherwise), as in HBase."""
        validate_table_name(name)
        request = master_pb2.TableRequest(name=name)
        return self._submit(
            "DeleteTable",
            request,
            kind="delete_table",
            table=name,
            wait=wait,
            deadline=self._deadline(timeout),
        )

    @overload
    def truncate_table(
        self,
        name: str,
        *,
        preserve_splits: bool = ...,
        wait: Literal[True] = ...,
        timeout: float | None = ...,
    ) -> None: ...
    @overload
    def truncate_table(
        self, name: str, *, preserve_splits: bool = ..., wait: Literal[False], timeout: float | None = ...
    ) -> ProcedureHandle: ...
    def truncate_table(
        self, name: str, *, preserve_splits: bool = True, wait: bool = True, timeout: float | None = None
    ) -> ProcedureHandle | None:
        """Drop every row of disabled table `name`: its regions are replaced by empty ones, with the same
        boundaries if `preserve_splits` (else one region), and the table ends enabled, as in HBase."""
        validate_table_name(name)
        if not isinstance(preserve_splits, bool):
            raise ValueError(f"preserve_splits must be True or False, got {preserve_splits!r}")
        request = master_pb2.TruncateTableRequest(name=name, preserve_splits=preserve_splits)
        return self._submit(
            "TruncateTable",
            request,
            kind="truncate_table",
            table=name,
            wait=wait,
            deadline=self._deadline(timeout),
        )

    @overload
    def enable_table(self, name: str, *, wait: Literal[True] = ..., timeout: float | None = ...) -> None: ...
    @overload
    def enable_table(
        self, name: str, *, wait: Literal[False], timeout: float | None = ...
    ) -> ProcedureHandle: ...
    def enable_table(
        self, name: str, *, wait: bool = True, timeout: float | None = None
    ) -> ProcedureHandle | None:
        """Enable disabled table `name`: assign its regions (TableNotDisabled if it is not disabled)."""
        validate_table_name(name)
        request = master_pb2.TableRequest(name=name)
        return self._submit(
            "EnableTable",
            request,
            kind="enable_table",
            table=name,
            wait=wait,
            deadline=self._deadline(timeout),
        )

    @overload
    def disable_table(self, name: str, *, wait: Literal[True] = ..., timeout: float | None = ...) -> None: ...
    @overload
    def disable_table(
        self, name: str, *, wait: Literal[False], timeout: float | None = ...
    ) -> ProcedureHandle: ...
    def disable_table(
        self, name: str, *, wait: bool = True, timeout: float | None = None
    ) -> ProcedureHandle | None:
        """Disable enabled table `name`: close every region (TableNotEnabled if it is not enabled)."""
        validate_table_name(name)
        request = master_pb2.TableRequest(name=name)
        return self._submit(
            "DisableTable",
            request,
            kind="disable_table",
            table=name,
            wait=wait,
            deadline=self._deadline(timeout),
        )

    def describe_table(self, name: str, *, timeout: float | None = None) -> TableDescription:
        """Table `name`'s families, settings, state, regions by state and lock; TableNotFound if none."""
        validate_table_name(name)
        request = master_pb2.TableRequest(name=name)
        response: master_pb2.TableDescription = self._call("DescribeTable", request, self._deadline(timeout))
        return table_description_from_proto(response)

    def list_tables(self, *, timeout: float | None = None) -> list[TableDescription]:
        """Every table, by name."""
        request = master_pb2.ListTablesRequest()
        response: master_pb2.ListTablesResponse = self._call("ListTables", request, self._deadline(timeout))
        return sorted((table_description_from_proto(t) for t in response.tables), key=lambda t: t.name)

    def table_exists(self, name: str, *, timeout: float | None = None) -> bool:
        try:
            self.describe_table(name, timeout=timeout)
        except TableNotFound:
            return False
        return True

    def is_table_enabled(self, name: str, *, timeout: float | None = None) -> bool:
        """True when the table is ENABLED (not ENABLING, DISABLING or DISABLED); TableNotFound if none."""
        return self.describe_table(name, timeout=timeout).enabled

    def is_table_disabled(self, name: str, *, timeout: float | None = None) -> bool:
        """True when the table is DISABLED (not DISABLING, ENABLING or ENABLED); TableNotFound if none."""
        return self.describe_table(name, timeout=timeout).disabled

    def table_regions(self, name: str, *, timeout: float | None = None) -> list[RegionLocation]:
        """Every region of table `name` in key order, with its state and server."""
        request = master_pb2.TableRegionsRequest(name=name)
        response: master_pb2.TableRegionsResponse = self._call(
            "TableRegions", request, self._deadline(timeout)
        )
        return [location_from_proto(loc) for loc in response.regions]


def table_settings(
    base: TableSettings | None,
    *,
    max_region_size: int | None = None,
    split_enabled: bool | None = None,
    merge_enabled: bool | None = None,
    normalization_enabled: bool | None = None,
) -> TableSettings:
    """`base` (default TableSettings()) with the keyword arguments that are not None put over it."""
    if base is not None and not isinstance(base, TableSettings):
        raise ValueError(f"settings must be a TableSettings, got {base!r}")
    start = base or TableSettings()
    return TableSettings(
        max_region_size=start.max_region_size if max_region_size is None else max_region_size,
        split_enabled=start.split_enabled if split_enabled is None else split_enabled,
        merge_enabled=start.merge_enabled if merge_enabled is None else merge_enabled,
        normalization_enabled=(
            start.normalization_enabled if normalization_enabled is None else normalization_enabled
        ),
    )


def families_of(families: Families) -> tuple[ColumnFamily, ...]:
    """The ColumnFamily values of a create_table/modify_table `families` argument (ValueError if bad)."""
    given: object = families
    if isinstance(given, str | bytes):
        raise ValueError(f"families must be a list or a mapping of column families, not one {given!r}")
    if isinstance(families, Mapping):
        return tuple(family_from_settings(name, settings) for name, settings in families.items())
    return tuple(family_of(f) for f in families)


def family_of(family: str | ColumnFamily) -> ColumnFamily:
    if isinstance(family, ColumnFamily):
        return family
    if isinstance(family, str):
        return ColumnFamily(family)
    raise ValueError(f"a column family is a name (str) or a ColumnFamily, got {family!r}")


def family_from_settings(name: str, settings: Mapping[str, Any] | ColumnFamily | None) -> ColumnFamily:
    """Family `name` with `settings`: None (defaults), a ColumnFamily of that name, or a mapping of
    FAMILY_SETTINGS."""
    if not isinstance(name, str):
        raise ValueError(f"a column family name is a string, got {name!r}")
    if settings is None:
        return ColumnFamily(name)
    if isinstance(settings, ColumnFamily):
        if settings.name != name:
            raise ValueError(f"column family {name!r} is given a ColumnFamily named {settings.name!r}")
        return settings
    if not isinstance(settings, Mapping):
        raise ValueError(
            f"column family {name!r}: settings are a dict, a ColumnFamily or None, got {settings!r}"
        )
    unknown = sorted(set(settings) - set(FAMILY_SETTINGS))
    if unknown:
        raise ValueError(
            f"column family {name!r}: unknown setting(s) {', '.join(map(str, unknown))}; "
            f"known: {', '.join(FAMILY_SETTINGS)}"
        )
    return ColumnFamily(name, **settings)


def check_split_keys(table: str, split_keys: Sequence[bytes]) -> list[bytes]:
    """Return the split keys as a list, or raise ValueError naming the first bad one.

    They must be bytes, non-empty (the empty key is where the first region already starts), at most
    MAX_BOUNDARY_KEY bytes (meta's key limit) and strictly increasing (sorted, no duplicates).
    """
    given: object = split_keys  # callers without type checking pass one key by mistake
    if isinstance(given, bytes | str):
        raise ValueError(f"table {table!r}: split_keys must be a sequence of bytes keys, not one {given!r}")
    keys = list(split_keys)
    for i, key in enumerate(keys):
        if not isinstance(key, bytes):
            raise ValueError(f"table {table!r}: split key {i} must be bytes, got {key!r}")
        if not key:
            raise ValueError(f"table {table!r}: split key {i} is empty (the first region starts at b'')")
        if len(key) > MAX_BOUNDARY_KEY:
            raise ValueError(
                f"table {table!r}: split key {i} has {len(key)} bytes, at most {MAX_BOUNDARY_KEY} are allowed"
            )
        if i and keys[i - 1] >= key:
            problem = "repeats" if keys[i - 1] == key else "is not after"
            raise ValueError(
                f"table {table!r}: split keys must be sorted and distinct: key {i} {key!r} {problem} "
                f"key {i - 1} {keys[i - 1]!r}"
            )
    return keys


__all__ = [
    "FAMILY_SETTINGS",
    "Families",
    "TableAdmin",
    "check_split_keys",
    "families_of",
    "family_from_settings",
    "family_of",
    "table_settings",
]
