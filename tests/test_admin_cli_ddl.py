"""`regent admin` table commands against a real master and RegionServers, tried as a new operator would:
what each prints, the shape of its --json document, and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster import Cluster, Daemons

TIMEOUT_S = 90


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the whole module (each test uses tables of its own): starting one costs seconds."""
    daemons = Daemons(tmp_path_factory.mktemp("daemon-logs"))
    try:
        made = Cluster(daemons, tmp_path_factory.mktemp("root")).start(servers=2)
        yield made
        made.close()
    finally:
        daemons.kill_all()


def _admin(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "regent.cli", "admin", "--master", cluster.master_addresses, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _ok(cluster: Cluster, *args: str) -> str:
    result = _admin(cluster, *args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def _json(cluster: Cluster, *args: str) -> Any:
    return json.loads(_ok(cluster, "--json", *args))


def _refused(cluster: Cluster, code: int, *args: str) -> str:
    result = _admin(cluster, *args)
    assert result.returncode == code, (args, result)
    assert result.stdout == ""
    assert result.stderr.startswith("regent: error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def test_a_table_is_created_described_disabled_truncated_enabled_and_deleted(cluster: Cluster) -> None:
    created = _json(
        cluster, "create-table", "life", "--family", "info:versions=3,ttl=7d", "--family", "raw",
        "--regions", "4", "--max-region-size", "1GiB", "--no-split",
    )  # fmt: skip
    assert created["state"] == "SUCCESS" and created["waited"] is True
    assert (created["kind"], created["table"], created["regions"]) == ("create_table", "life", 4)
    assert isinstance(created["proc_id"], int) and created["proc_id"] > 0

    described = _json(cluster, "describe", "life")
    assert described["state"] == "ENABLED"
    assert described["regions"] == 4 and described["regions_by_state"] == {"OPEN": 4}
    assert described["families"] == [
        {"name": "info", "max_versions": 3, "min_versions": 0, "ttl": 7 * 86400},
        {"name": "raw", "max_versions": 1, "min_versions": 0, "ttl": None},
    ]
    assert described["settings"] == {
        "max_region_size": 1 << 30,
        "split_enabled": False,
        "merge_enabled": True,
        "normalization_enabled": False,
    }
    text = _ok(cluster, "describe", "life")
    assert text.startswith("table life: ENABLED, 4 regions (OPEN 4)")
    assert "split off, merge on" in text and "604,800 s" in text

    stderr = _refused(cluster, 1, "delete-table", "life")
    assert "TableNotDisabled" in stderr and "regent admin disable-table life" in stderr

    result = _admin(cluster, "disable-table", "life", "--progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("table 'life' disabled (procedure ")
    assert "disable table life" in result.stderr and "4/4" in result.stderr  # the progress bar, on stderr
    assert _json(cluster, "describe", "life")["regions_by_state"] == {"CLOSED": 4}
    assert "TableNotEnabled" in _refused(cluster, 1, "disable-table", "life")

    assert "truncated" in _ok(cluster, "truncate-table", "life")
    assert [r["state"] for r in _json(cluster, "regions", "life")["regions"]] == ["OPEN"] * 4
    listed = {t["name"]: t for t in _json(cluster, "list")["tables"]}
    assert listed["life"]["state"] == "ENABLED"

    _ok(cluster, "disable-table", "life")
    deleted = _json(cluster, "delete-table", "life")
    assert (deleted["kind"], deleted["state"]) == ("delete_table", "SUCCESS")
    assert "TableNotFound" in _refused(cluster, 1, "describe", "life")
    assert "life" not in {t["name"] for t in _json(cluster, "list")["tables"]}


def test_families_and_settings_are_changed_in_place(cluster: Cluster) -> None:
    _ok(cluster, "create-table", "fam", "--family", "a", "--regions", "2")
    assert "family 'b' of table 'fam' added" in _ok(
        cluster, "add-family", "fam", "b", "--max-versions", "5", "--ttl", "1h"
    )
    assert "FamilyExists" in _refused(cluster, 1, "add-family", "fam", "b")
    _ok(cluster, "modify-family", "fam", "b", "--min-versions", "2")
    families = {f["name"]: f for f in _json(cluster, "describe", "fam")["families"]}
    assert families["b"] == {"name": "b", "max_versions": 5, "min_versions": 2, "ttl": 3600}
    _ok(cluster, "modify-family", "fam", "b", "--ttl", "forever")
    assert {f["name"]: f["ttl"] for f in _json(cluster, "describe", "fam")["families"]}["b"] is None
    assert "FamilyNotFound" in _refused(cluster, 1, "modify-family", "fam", "zz", "--max-versions", "2")

    _ok(cluster, "delete-family", "fam", "a")
    assert [f["name"] for f in _json(cluster, "describe", "fam")["families"]] == ["b"]
    assert "FamilyNotFound" in _refused(cluster, 1, "delete-family", "fam", "a")

    modified = _json(cluster, "modify-table", "fam", "--max-region-size", "512MiB", "--no-merge")
    assert (modified["kind"], modified["state"]) == ("modify_table", "SUCCESS")
    settings = _json(cluster, "describe", "fam")["settings"]
    assert (settings["max_region_size"], settings["merge_enabled"], settings["split_enabled"]) == (
        512 << 20,
        False,
        True,
    )
    assert _json(cluster, "describe", "fam")["regions_by_state"] == {"OPEN": 2}


def test_no_wait_returns_the_procedure_and_procedures_wait_follows_it(cluster: Cluster) -> None:
    submitted = _json(cluster, "create-table", "later", "--family", "f", "--regions", "8", "--no-wait")
    assert submitted["waited"] is False and submitted["regions"] == 8
    proc_id = str(submitted["proc_id"])
    final = _json(cluster, "procedures", proc_id, "--wait")
    assert (final["proc_id"], final["state"], final["kind"], final["table"]) == (
        submitted["proc_id"],
        "SUCCESS",
        "create_table",
        "later",
    )
    shown = _ok(cluster, "procedures", proc_id)
    assert shown.startswith(f"procedure {proc_id} (create_table of table later): SUCCESS")
    listed = _json(cluster, "procedures")["procedures"]
    assert all({"proc_id", "kind", "state", "done", "total", "step"} <= p.keys() for p in listed)

    # Aborting what has finished is refused by the cluster: exit code 1, the master's reason on stderr.
    assert "was not aborted" in _refused(cluster, 1, "abort", proc_id)
    assert "ProcedureNotFound" in _refused(cluster, 1, "procedures", "987654321")


def test_a_wait_that_times_out_exits_3_and_says_how_to_follow_the_procedure(cluster: Cluster) -> None:
    stderr = _refused(
        cluster, 3, "create-table", "slow", "--family", "f", "--regions", "200", "--wait-timeout", "0.001"
    )
    assert "had not finished" in stderr and "--wait" in stderr
    proc_id = stderr.split("procedure ")[1].split()[0]
    assert _json(cluster, "procedures", proc_id, "--wait")["state"] == "SUCCESS"


def test_common_options_may_follow_the_command(cluster: Cluster) -> None:
    _ok(cluster, "create-table", "opts", "--family", "f")
    listed = json.loads(_ok(cluster, "list", "--json"))
    assert "opts" in {t["name"] for t in listed["tables"]}
    lines = _ok(cluster, "list").splitlines()
    assert lines[0].split() == ["table", "state", "regions", "families", "locked", "by"]
    assert any(line.split()[:4] == ["opts", "ENABLED", "1", "f"] for line in lines[2:])


def test_every_command_has_an_example_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --help, from the CLI's own parser in this process (a process per command took
    minutes on a loaded machine); one real `regent admin ... --help` checks the path end to end."""
    from regent.admin_commands import COMMANDS
    from regent.cli import build_parser

    parser = build_parser()
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(["admin", command.name, "--help"])
        assert exited.value.code == 0, command.name
        out = capsys.readouterr().out
        example = out.split("example:\n", 1)[1]
        assert example.lstrip().startswith("regent admin "), (command.name, example)
        assert "exit codes:" in out
    result = subprocess.run(
        [sys.executable, "-m", "regent.cli", "admin", COMMANDS[0].name, "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0 and "example:\n" in result.stdout, result.stderr
