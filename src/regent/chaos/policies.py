"""The chaos monkey's policies: which action kinds, how often each (a weight), how long between actions.

In the spirit of HBase's ChaosMonkey policies (a periodic random action from a weighted list): every
interval, drawn uniformly in `interval_s`, one action is chosen among the policy's kinds that are eligible
now, in proportion to their weights. A kind named here must be registered (regent.chaos.actions).
"""

from __future__ import annotations

from dataclasses import dataclass

from regent.chaos.actions import REGISTRY

#: Splits and merges, in the policies that change regions (as HBase's SplitRandomRegionOfTableAction and
#: MergeRandomAdjacentRegionsOfTableAction are in its slowDeterministic and stressAssignmentManager
#: policies). The balancer and decommissioning go with them (its ForceBalancerAction and the region
#: mover's unload and load of GracefulRollingRestartRsAction); the "servers" and "masters" policies
#: stay process faults only. Equal weights keep the region count about level over a long run; each
#: half a move's, since each is a move of two regions at least. A split of a region whose fold has not
#: finished, or with no row to split at, is refused by the cluster and logged "skipped"
#: (regent.chaos.admin_actions.NOT_NOW).
SPLIT_MERGE: tuple[tuple[str, int], ...] = (("split_region", 2), ("merge_regions", 2))


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    help: str
    weights: tuple[tuple[str, int], ...]  # (action kind, weight), in a fixed order
    interval_s: tuple[float, float]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.weights)

    @property
    def needs_signals(self) -> bool:
        """Every kind of it signals processes: on a cluster the monkey does not control it can do nothing."""
        return all(REGISTRY[kind].needs_signals for kind in self.kinds)


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            "default",
            "everything: kill, pause and restart RegionServers, kill the active master, move, split and "
            "merge regions, run the balancer, decommission and recommission RegionServers, add, modify "
            "and delete families; an action every 1-4 s",
            (
                ("kill_regionserver", 2),
                ("pause_regionserver", 2),
                ("kill_active_master", 1),
                ("restart_daemon", 3),
                ("move_region", 4),
                ("add_family", 1),
                ("modify_family", 1),
                ("delete_family", 1),
                *SPLIT_MERGE,
                ("run_balancer", 1),
                ("decommission_regionserver", 1),
                ("recommission_regionserver", 2),
            ),
            (1.0, 4.0),
        ),
        Policy(
            "servers",
            "RegionServers only: kill, pause, restart; an action every 2-6 s",
            (("kill_regionserver", 2), ("pause_regionserver", 2), ("restart_daemon", 3)),
            (2.0, 6.0),
        ),
        Policy(
            "masters",
            "master failovers under region moves: kill the active master, restart it, move regions; "
            "an action every 2-6 s",
            (("kill_active_master", 1), ("restart_daemon", 1), ("move_region", 2)),
            (2.0, 6.0),
        ),
        Policy(
            "regions",
            "through the master only (for any cluster, no process control needed): move, split and merge "
            "regions, run the balancer, add, modify and delete families, and on a `regent local` cluster "
            "decommission and recommission RegionServers; an action every 0.5-2 s",
            (
                ("move_region", 4),
                ("add_family", 1),
                ("modify_family", 1),
                ("delete_family", 1),
                *SPLIT_MERGE,
                ("run_balancer", 1),
                ("decommission_regionserver", 1),
                ("recommission_regionserver", 2),
            ),
            (0.5, 2.0),
        ),
    )
}


def check_registered() -> None:
    """Every kind a policy names is registered (a test runs this)."""
    for policy in POLICIES.values():
        unknown = [kind for kind in policy.kinds if kind not in REGISTRY]
        if unknown:
            raise ValueError(f"policy {policy.name} names unregistered action kinds {unknown}")


__all__ = ["POLICIES", "Policy", "check_registered"]
