"""regent.happybase refuses the arguments happybase refuses, with the same exception type and message.

happybase itself (installed with the test extras) is the reference: each case is run against a happybase
object that never connects (every check here comes before its first Thrift call) and against Regent's, and
both must raise alike. Nothing is sent anywhere: Regent's checks also come before any RPC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import happybase
import pytest

import regent.happybase as regent_happybase

Case = Callable[[Any], Any]  # given a module (happybase or regent.happybase), make the failing call


def _table(module: Any, compat: str = "0.98") -> Any:
    return module.Connection("127.0.0.1", 1, autoconnect=False, compat=compat).table("t")


def _drain(iterable: Any) -> list[Any]:
    return list(iterable)  # happybase's scan checks on the first next(): a caller sees both when looping


CASES: dict[str, Case] = {
    "row columns not a list": lambda m: _table(m).row(b"r", columns="f"),
    "row timestamp not an integer": lambda m: _table(m).row(b"r", timestamp="1"),
    "rows columns not a list": lambda m: _table(m).rows([b"r"], columns="f"),
    "cells versions not a number": lambda m: _table(m).cells(b"r", b"f:a", versions="2"),
    "cells versions zero": lambda m: _table(m).cells(b"r", b"f:a", versions=0),
    "scan batch_size zero": lambda m: _drain(_table(m).scan(batch_size=0)),
    "scan limit zero": lambda m: _drain(_table(m).scan(limit=0)),
    "scan scan_batching zero": lambda m: _drain(_table(m).scan(scan_batching=0)),
    "scan row_prefix with row_start": lambda m: _drain(_table(m).scan(row_prefix=b"a", row_start=b"b")),
    "scan row_prefix with row_stop": lambda m: _drain(_table(m).scan(row_prefix=b"a", row_stop=b"b")),
    "scan sorted_columns before 0.96": lambda m: _drain(_table(m, "0.94").scan(sorted_columns=True)),
    "scan reverse before 0.98": lambda m: _drain(_table(m, "0.96").scan(reverse=True)),
    "batch timestamp not an integer": lambda m: _table(m).batch(timestamp="1"),
    "batch batch_size with transaction": lambda m: _table(m).batch(batch_size=10, transaction=True),
    "batch batch_size zero": lambda m: _table(m).batch(batch_size=0),
    "connection transport": lambda m: m.Connection(transport="http", autoconnect=False),
    "connection compat": lambda m: m.Connection(compat="2.0", autoconnect=False),
    "connection protocol": lambda m: m.Connection(protocol="json", autoconnect=False),
    "connection table_prefix": lambda m: m.Connection(table_prefix=1, autoconnect=False),
    "connection table_prefix_separator": lambda m: m.Connection(table_prefix_separator=1, autoconnect=False),
    "create_table families not a dict": lambda m: m.Connection(autoconnect=False).create_table("t", ["f"]),
    "create_table no families": lambda m: m.Connection(autoconnect=False).create_table("t", {}),
    "pool size not an integer": lambda m: m.ConnectionPool("2"),
    "pool size zero": lambda m: m.ConnectionPool(0),
}


def _raised(case: Case, module: Any) -> BaseException:
    with pytest.raises(Exception) as info:
        case(module)
    return info.value


@pytest.mark.parametrize("name", sorted(CASES))
def test_regent_refuses_as_happybase_does(name: str) -> None:
    theirs = _raised(CASES[name], happybase)
    ours = _raised(CASES[name], regent_happybase)
    assert type(theirs) in (TypeError, ValueError, NotImplementedError)
    assert isinstance(ours, type(theirs)), (name, theirs, ours)
    if "create_table no families" not in name:  # happybase quotes the name as it holds it
        assert str(ours) == str(theirs), name


def test_empty_rows_are_empty_without_a_call() -> None:
    assert not _table(happybase).rows([])
    assert _table(regent_happybase).rows([]) == []


def test_the_public_names_of_happybase_are_all_there() -> None:
    for name in ("Connection", "ConnectionPool", "NoConnectionsAvailable", "Table", "Batch", "DEFAULT_PORT"):
        assert hasattr(regent_happybase, name), name
    assert issubclass(regent_happybase.NoConnectionsAvailable, RuntimeError)
