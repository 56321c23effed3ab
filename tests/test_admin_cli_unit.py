"""`regent admin` without a cluster: parsing of its arguments, its table layout, and its exit codes and
JSON against the scripted fake master of test_admin_ddl_unit."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator

import pytest

from meta.types import ColumnFamily
from regent import admin_cli
from regent.admin_output import Result, Table, emit, plain_table
from regent.cli import build_parser
from tests.test_admin_ddl_unit import ScriptedMaster, serving


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ("cf", ColumnFamily("cf")),
        ("cf:versions=3", ColumnFamily("cf", 3)),
        ("cf:max_versions=3,min_versions=1,ttl=7d", ColumnFamily("cf", 3, 1, 7 * 86400)),
        ("cf:ttl=forever", ColumnFamily("cf")),
    ],
)
def test_a_family_is_given_as_name_and_settings(text: str, family: ColumnFamily) -> None:
    assert admin_cli.family(text) == family


@pytest.mark.parametrize(
    ("text", "message"),
    [("cf:colour=red", "KEY one of"), ("cf:versions", "KEY=VALUE"), ("cf:versions=x", "whole number")],
)
def test_a_bad_family_says_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        admin_cli.family(text)


def test_sizes_and_durations_take_units() -> None:
    assert admin_cli.size("512MiB") == 512 << 20
    assert admin_cli.size("10G") == 10 << 30
    assert admin_cli.size("1048576") == 1 << 20
    assert admin_cli.duration("90") == 90 and admin_cli.duration("30m") == 1800
    assert admin_cli.duration("2w") == 14 * 86400 and admin_cli.duration("forever") is None
    for bad in (admin_cli.size, admin_cli.duration):
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            bad("lots")


def test_common_options_may_come_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["admin", "--json", "--master", "h:1", "list"])
    after = parser.parse_args(["admin", "list", "--json", "--master", "h:1"])
    neither = parser.parse_args(["admin", "list"])
    assert (before.json, before.master) == (after.json, after.master) == (True, "h:1")
    assert (neither.json, neither.timeout, neither.progress) == (False, 30.0, None)


def test_the_master_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(admin_cli.MASTER_ENV, "10.0.0.1:16000")
    assert build_parser().parse_args(["admin", "status"]).master == "10.0.0.1:16000"


def test_a_plain_table_has_its_header_a_rule_and_padded_columns() -> None:
    text = plain_table(Table(("a", "bb"), [("xxx", "y"), ("z", "")]))
    assert text.splitlines() == ["a     bb", "─" * 8, "xxx   y", "z"]
    assert plain_table(Table(("a",), [])).splitlines()[-1] == "(none)"


def test_json_output_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    emit(Result({"x": [1, 2]}, ["ignored"]), as_json=True)
    assert json.loads(capsys.readouterr().out) == {"x": [1, 2]}


@pytest.fixture
def master() -> Iterator[ScriptedMaster]:
    with serving(ScriptedMaster()) as fake:
        yield fake


def _run(master: ScriptedMaster, *args: str) -> int:
    try:
        admin_cli.run(build_parser().parse_args(["admin", "--master", master.address, *args]))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_exit_codes_name_what_happened(master: ScriptedMaster, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(master, "--json", "disable-table", "t1") == admin_cli.EXIT_OK
    done = json.loads(capsys.readouterr().out)
    assert (done["proc_id"], done["state"], done["done"], done["total"], done["waited"]) == (
        101,
        "SUCCESS",
        4,
        4,
        True,
    )

    master.outcome = ("FAILED", "TableNotEnabled", "table 't1' is DISABLED")
    assert _run(master, "disable-table", "t1") == admin_cli.EXIT_REFUSED
    assert capsys.readouterr().err == (
        "regent: error: TableNotEnabled: procedure 102 (disable_table of table 't1') ended FAILED: "
        "table 't1' is DISABLED\n"
    )
    assert _run(master, "disable-table", "bad name") == admin_cli.EXIT_USAGE
    assert "table name 'bad name' is not valid" in capsys.readouterr().err

    master.polls_to_end = 10**6
    assert _run(master, "enable-table", "t1", "--wait-timeout", "0.2") == admin_cli.EXIT_TIMEOUT
    assert "procedures 103 --wait" in capsys.readouterr().err

    submitted = _run(master, "--json", "enable-table", "t1", "--no-wait")
    assert submitted == admin_cli.EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "proc_id": 104,
        "kind": "enable_table",
        "table": "t1",
        "waited": False,
    }


def test_no_master_reachable_is_exit_code_4(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["admin", "--master", "127.0.0.1:1", "--timeout", "0.3", "list"])
    with pytest.raises(SystemExit) as caught:
        admin_cli.run(args)
    assert caught.value.code == admin_cli.EXIT_UNREACHABLE
    assert capsys.readouterr().err.startswith("regent: error: no active master reachable")
