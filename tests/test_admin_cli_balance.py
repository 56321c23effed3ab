"""`regent admin` balancer and decommission commands against a real master and RegionServers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster import Cluster, Daemons, wait_until
from tests.test_admin_cli import _admin, _ok


def test_an_operator_balances_switches_and_decommissions(daemons: Daemons, tmp_path: Path) -> None:
    cluster = Cluster(daemons, tmp_path / "root").start(servers=1)
    try:
        _ok(cluster, "create-table", "t", "--family", "f", "--regions", "8")
        cluster.wait_open("t", 8)
        joined = cluster.start_server().address
        cluster.wait_live(2)

        dry = json.loads(_ok(cluster, "--json", "balance", "--dry-run"))
        assert dry["ran"] and dry["dry_run"] and dry["planned"] == 4 and len(dry["moves"]) == 4
        assert "planned 4 moves" in _ok(cluster, "balance", "--dry-run")
        done = json.loads(_ok(cluster, "--json", "balance", "--wait"))
        assert done["moves_done"] == 4 and done["finished_ms"] > 0
        status = json.loads(_ok(cluster, "--json", "balancer-status"))
        assert status["on"] and status["last_run"]["moves_done"] == 4
        assert "moves done 4" in _ok(cluster, "balancer-status")

        assert "switched off (it was on)" in _ok(cluster, "balancer-switch", "off")
        assert "switched off" in json.loads(_ok(cluster, "--json", "balance"))["reason"]
        _ok(cluster, "balancer-switch", "on")

        moving = json.loads(_ok(cluster, "--json", "decommission", joined))
        assert moving == {"servers": [joined], "offload": True, "moves": 4}

        def empty() -> list[dict[str, object]] | None:
            listed = json.loads(_ok(cluster, "--json", "list-decommissioned"))["servers"]
            return listed if listed and listed[0]["regions"] == 0 else None

        listed = wait_until(empty, 30, f"no region left on {joined}")
        assert [(d["address"], d["offload"], d["live"]) for d in listed] == [(joined, True, True)]
        assert "(decommissioned)" in _ok(cluster, "status")
        assert f"recommissioned {joined}; moving 1 regions back" in _ok(
            cluster, "recommission", joined, "--region", "1"
        )
        assert json.loads(_ok(cluster, "--json", "list-decommissioned")) == {"servers": []}

        refused = _admin(cluster, "decommission", "127.0.0.1:1")
        assert refused.returncode == 1 and "ServerNotFound" in refused.stderr
        usage = _admin(cluster, "balancer-switch", "maybe")
        assert usage.returncode == 2
    finally:
        cluster.close()
