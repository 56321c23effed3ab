"""`regent admin ...` against a real master and RegionServers: what an operator types, and what it prints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster import Cluster, Daemons, wait_until

TIMEOUT_S = 60


def _admin(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "regent.cli", "admin", "--master", cluster.master_addresses, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _ok(cluster: Cluster, *args: str) -> str:
    result = _admin(cluster, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def cluster(daemons: Daemons, tmp_path: Path) -> Cluster:
    return Cluster(daemons, tmp_path / "root").start(servers=2)


def test_an_operator_creates_a_table_moves_a_region_and_reads_the_status(cluster: Cluster) -> None:
    assert "created with 4 regions" in _ok(cluster, "create-table", "t", "--family", "f", "--regions", "4")
    cluster.wait_open("t", 4)

    regions = json.loads(_ok(cluster, "--json", "regions", "t"))["regions"]
    assert [r["state"] for r in regions] == ["OPEN"] * 4
    first = regions[0]
    table = _ok(cluster, "regions", "t")
    header = ["region", "start", "key", "end", "key", "state", "server", "procedure"]
    assert table.splitlines()[0].split() == header
    assert set(table.splitlines()[1]) == {"─"}
    assert len(table.splitlines()) == 6

    moved = json.loads(_ok(cluster, "--json", "move", str(first["region_id"])))
    assert moved["region"]["state"] == "OPEN" and moved["region"]["server"] != first["server"]
    assert "is CLOSED" in _ok(cluster, "unassign", str(first["region_id"]))
    assert "is OPEN on" in _ok(cluster, "assign", str(first["region_id"]))

    status = json.loads(_ok(cluster, "--json", "status"))
    assert status["regions_by_state"] == {"OPEN": 4}
    assert sorted(s["region_count"] for s in status["servers"]) == [2, 2]
    text = _ok(cluster, "status")
    assert "4 regions: OPEN 4" in text and "regions in transition: 0" in text
    assert [line.split()[1] for line in _ok(cluster, "procedures").splitlines()[2:]] == ["create_table"]

    compacted = json.loads(_ok(cluster, "--json", "compact", "t"))
    assert sorted(r["region_id"] for r in compacted["regions"]) == sorted(r["region_id"] for r in regions)
    assert "compacted region" in _ok(cluster, "compact", "--region", str(first["region_id"]))
    neither = _admin(cluster, "compact")
    assert neither.returncode == 2 and "give a TABLE or --region" in neither.stderr


def test_any_master_will_do_and_output_piped_to_head_ends_without_a_traceback(
    daemons: Daemons, tmp_path: Path
) -> None:
    cluster = Cluster(daemons, tmp_path / "root", masters=2).start(servers=1)
    active = wait_until(cluster.active_master, 30, "an active master", context=daemons.log_tails)
    (backup,) = [m for m in cluster.masters if m is not active]
    cluster.admin.create_table("t", ["f"], num_regions=2000)
    # About 200 kB of regions, more than a pipe holds: `head` has exited before most of it is written.
    admin = f"{sys.executable} -m regent.cli admin --master {backup.address} --timeout 10 regions t"
    script = f'{admin} | head -1; echo "exit status ${{PIPESTATUS[0]}}" >&2'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.stdout.split() == ["region", "start", "key", "end", "key", "state", "server", "procedure"]
    assert result.stderr == "exit status 141\n"


def test_refusals_are_one_line_with_exit_code_1_and_bad_usage_exit_code_2(cluster: Cluster) -> None:
    for args, phrase, code in (
        (("bypass", "424242"), "no region transition procedure 424242", 1),
        (("regions", "nope"), "table 'nope' does not exist", 1),
        (("move", "999999"), "RegionNotFound: region 999999 does not exist", 1),
        (("create-table", "bad name", "--family", "f"), "not valid", 2),
        (("create-table", "t", "--family", "f", "--max-region-size", "1KiB"), "max_region_size", 2),
    ):
        result = _admin(cluster, *args)
        assert result.returncode == code, (args, result)
        assert result.stderr.startswith("regent: error: ") and phrase in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    # What argparse itself rejects comes with the usage, as for any command-line tool, and exit code 2.
    result = _admin(cluster, "create-table", "t", "--family", "f:versions=0")
    assert result.returncode == 2 and result.stderr.startswith("usage: regent admin create-table")
    assert "max_versions must be 1..10000, got 0" in result.stderr.splitlines()[-1]


def test_no_master_reachable_is_one_line_within_the_timeout(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "regent.cli", "admin", "--master", "127.0.0.1:1", "--timeout", "1"]
    command.append("status")
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert result.returncode == 4
    assert result.stderr.startswith("regent: error: no active master reachable"), result.stderr
    assert "--master" in result.stderr and len(result.stderr.splitlines()) == 1


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_story_lists_a_moved_regions_steps_and_status_watch_refreshes_until_ctrl_c(cluster: Cluster) -> None:
    _ok(cluster, "create-table", "t", "--family", "f", "--regions", "2")
    cluster.wait_open("t", 2)
    region_id = json.loads(_ok(cluster, "--json", "regions", "t"))["regions"][0]["region_id"]
    _ok(cluster, "move", str(region_id))
    story = json.loads(_ok(cluster, "--json", "story", str(region_id)))
    assert [(s["state"], s["cause"]) for s in story["steps"]] == [
        ("OPENING", "table ddl"),
        ("OPEN", "table ddl"),
        ("CLOSING", "move"),
        ("OPENING", "move"),
        ("OPEN", "move"),
    ]
    text = _ok(cluster, "story", str(region_id))
    assert f"region {region_id} of table t: OPEN on" in text and text.count("move") >= 3
    missing = _admin(cluster, "story", "999999")
    assert missing.returncode == 1 and "RegionNotFound" in missing.stderr

    refused = _admin(cluster, "--json", "status", "--watch")
    assert refused.returncode == 2 and "use it without --json" in refused.stderr
    command = [sys.executable, "-m", "regent.cli", "admin", "--master", cluster.master_addresses]
    watching = subprocess.Popen(
        [*command, "status", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background (`make test &`) has SIGINT ignored, and a
        # child would inherit that and never see the Ctrl-C below.
        preexec_fn=_interruptible,
    )
    try:
        lines: list[str] = []
        assert watching.stdout is not None
        wait_until(
            lambda: (
                lines.append(watching.stdout.readline()) or sum("procedures running" in x for x in lines) >= 2
            ),
            30,
            "two refreshes of the summary",
            context=lambda: "what it printed:\n" + "".join(lines)[-3000:],
        )
        watching.send_signal(signal.SIGINT)
        # Read what it still writes while it exits: a full pipe would block its last flush forever.
        rest, _ = watching.communicate(timeout=30)
        lines.append(rest)
        assert watching.returncode == 0
    finally:
        watching.kill()
        watching.wait()
    screen = "".join(lines)
    assert "2 RegionServers live" in screen and "2 regions: OPEN 2" in screen, screen
