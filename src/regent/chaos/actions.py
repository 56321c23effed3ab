"""The chaos monkey's actions: a registry of kinds, each one class.

A kind has four parts. Three are pure and make the plan (regent.chaos.plan): `eligible(model, limits)`
(may it run now, by what the monkey believes), `choose(rng, model)` (its target and parameters, drawn
from the seeded generator only), `apply(model, step)` (what it changes in the model). The fourth,
`perform(cluster, step)`, carries it out against the cluster (regent.chaos.cluster) and says what happened.

Targets are drawn so that a plan never depends on what the cluster says during the run: a daemon by its
name in the model, a region by its index in the table's key order (resolved to a region id when the
action runs, and logged with it), a destination by its index among the RegionServers the model has
running.

To add a kind: subclass Action, set `name` (and `needs_signals` if it signals processes), write the four
methods, `register()` it, and give it a weight in the policies that should use it (regent.chaos.policies).
The kinds that act through the master's Admin calls alone (balance, decommission, recommission, split,
merge) carry themselves out in regent.chaos.admin_actions (imported when they run: it builds on this
module's Outcome).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from regent.chaos.model import ADDED_FAMILY_PREFIX, MAX_ADDED_FAMILIES, Limits, Model

if TYPE_CHECKING:
    from regent.chaos.cluster import ChaosCluster

#: How long a paused RegionServer stays paused, drawn in this range: from well inside its lease (it
#: resumes unnoticed) to past it (the master declares it dead and reassigns; it must fence itself).
PAUSE_RANGE_S = (0.5, 6.0)
#: What the monkey sets max_versions to when it modifies a family.
VERSIONS_RANGE = (1, 5)
#: Indexes of regions and destinations are drawn in 0..2**30 and taken modulo the count at hand.
_INDEX_SPACE = 1 << 30


@dataclass(frozen=True, slots=True)
class Step:
    """One chosen action: its kind, its target (a daemon's name, "active master", "region #k", a family),
    and its parameters. What a replay from the same seed must repeat exactly."""

    kind: str
    target: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "params": dict(self.params)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What performing a step did: `ok`, and details (the region id a "#k" resolved to, the new active
    master, the error's name and message).

    `skipped`: the cluster refused the action for what it is doing now, rightly (a split of a region whose
    fold has not finished, a merge of a region in transition): nothing failed (`ok` is true), the action is
    logged "skipped" with the refusal's name and message in `detail`."""

    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False

    @property
    def label(self) -> str:
        """How the log and the summary count it: "ok", "skipped" or "failed"."""
        return "failed" if not self.ok else "skipped" if self.skipped else "ok"


class Action:
    """One kind of chaos action (see the module's docstring)."""

    name = ""
    #: It signals processes: only on a cluster whose processes the monkey controls (`regent local`).
    needs_signals = False

    def eligible(self, model: Model, limits: Limits) -> bool:
        return model.can_signal or not self.needs_signals

    def choose(self, rng: random.Random, model: Model) -> Step:
        raise NotImplementedError

    def apply(self, model: Model, step: Step) -> Model:
        return model

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        raise NotImplementedError


REGISTRY: dict[str, Action] = {}


def register(action: Action) -> Action:
    """Add `action` to the registry under its name (once)."""
    if not action.name or action.name in REGISTRY:
        raise ValueError(f"an action needs a name not registered yet, got {action.name!r}")
    REGISTRY[action.name] = action
    return action


def _can_lose_a_server(model: Model, limits: Limits) -> bool:
    """One more server may go out of service (killed, paused or decommissioned): the bound counts those
    in service (running, not decommissioned)."""
    return len(model.in_service) - 1 >= limits.min_live


# ---- processes ----


class KillRegionServer(Action):
    """SIGKILL a running RegionServer (it stays down until a restart action or the final healing)."""

    name = "kill_regionserver"
    needs_signals = True

    def eligible(self, model: Model, limits: Limits) -> bool:
        return Action.eligible(self, model, limits) and _can_lose_a_server(model, limits)

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, rng.choice(model.running_regionservers))

    def apply(self, model: Model, step: Step) -> Model:
        return model.with_killed(step.target)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.kill(step.target)


class PauseRegionServer(Action):
    """SIGSTOP a running RegionServer, hold it paused for `hold_s`, SIGCONT it. Held past its lease, the
    server is declared dead and exits when it resumes: the action then restarts it (regent.chaos.cluster),
    so that it ends, as the model says, with the server running."""

    name = "pause_regionserver"
    needs_signals = True

    def eligible(self, model: Model, limits: Limits) -> bool:
        return Action.eligible(self, model, limits) and _can_lose_a_server(model, limits)

    def choose(self, rng: random.Random, model: Model) -> Step:
        target = rng.choice(model.running_regionservers)
        return Step(self.name, target, {"hold_s": round(rng.uniform(*PAUSE_RANGE_S), 3)})

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.pause(step.target, float(step.params["hold_s"]))


class KillActiveMaster(Action):
    """SIGKILL the active master, when a backup is running to take over (regent local stops a cluster
    whose last master is gone); then wait for the new active master."""

    name = "kill_active_master"
    needs_signals = True

    def eligible(self, model: Model, limits: Limits) -> bool:
        return Action.eligible(self, model, limits) and model.running_masters >= 2

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, "active master")

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, masters_killed=model.masters_killed + 1)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.kill_active_master()


class RestartDaemon(Action):
    """Start a killed daemon again (the same argv, through regent local's supervisor), and wait until it
    runs (a RegionServer: until the master lists it live)."""

    name = "restart_daemon"
    needs_signals = True

    def eligible(self, model: Model, limits: Limits) -> bool:
        return Action.eligible(self, model, limits) and bool(model.killed or model.masters_killed)

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, rng.choice(_killed(model)))

    def apply(self, model: Model, step: Step) -> Model:
        return model.with_restarted(step.target)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.restart(step.target)


def _killed(model: Model) -> list[str]:
    """What a restart may pick: the killed RegionServers by name, then "master" once per killed master."""
    return [s for s in model.regionservers if s in model.killed] + ["master"] * model.masters_killed


# ---- regions ----


class MoveRegion(Action):
    """Move region #k of the table (key order) to the running RegionServer #d of the model's list (or to
    the master's choice on a cluster whose processes the monkey does not control)."""

    name = "move_region"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return model.regions > 0 and (not model.can_signal or len(model.in_service) >= 2)

    def choose(self, rng: random.Random, model: Model) -> Step:
        index = rng.randrange(_INDEX_SPACE) % model.regions
        params: dict[str, Any] = {"region_index": index}
        if model.can_signal:
            params["to"] = rng.choice(model.in_service)
        return Step(self.name, f"{model.table} region #{index}", params)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.move(int(step.params["region_index"]), step.params.get("to"))


class SplitRegion(Action):
    """Split region #k of the table (key order, serving regions only) at its middle row, as the
    RegionServer measures it (admin.split(region_id)); wait for the daughters to open."""

    name = "split_region"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return model.regions > 0

    def choose(self, rng: random.Random, model: Model) -> Step:
        index = rng.randrange(_INDEX_SPACE) % model.regions
        return Step(self.name, f"{model.table} region #{index}", {"region_index": index})

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, regions=model.regions + 1)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        from regent.chaos import admin_actions

        return admin_actions.split(cluster, int(step.params["region_index"]))


class MergeRegions(Action):
    """Merge regions #k and #k+1 of the table (adjacent in key order, serving regions only):
    admin.merge([a, b]); wait for the merged region to open."""

    name = "merge_regions"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return model.regions >= 2

    def choose(self, rng: random.Random, model: Model) -> Step:
        index = rng.randrange(_INDEX_SPACE) % (model.regions - 1)
        return Step(self.name, f"{model.table} regions #{index} and #{index + 1}", {"region_index": index})

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, regions=model.regions - 1)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        from regent.chaos import admin_actions

        return admin_actions.merge(cluster, int(step.params["region_index"]))


class RunBalancer(Action):
    """Run the balancer now (admin.balance), forced or not (forced: even while regions are in transition,
    as HBase's ForceBalancerAction), and wait for its moves."""

    name = "run_balancer"

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, "balancer", {"force": rng.random() < 0.5})

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        from regent.chaos import admin_actions

        return admin_actions.balance(cluster, bool(step.params["force"]))


# ---- servers through the master ----


class DecommissionRegionServer(Action):
    """Decommission a RegionServer in service with offload (admin.decommission): its regions move off and
    it takes none until recommissioned. Never below the bound of servers in service."""

    name = "decommission_regionserver"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return _can_lose_a_server(model, limits)

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, rng.choice(model.in_service))

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, decommissioned=model.decommissioned | {step.target})

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        from regent.chaos import admin_actions

        return admin_actions.decommission(cluster, step.target)


class RecommissionRegionServer(Action):
    """Recommission a RegionServer the monkey decommissioned (when it runs: the master needs its live
    incarnation), moving back the regions offloaded from it that are still OPEN elsewhere."""

    name = "recommission_regionserver"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return bool(_recommissionable(model))

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, rng.choice(_recommissionable(model)))

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, decommissioned=model.decommissioned - {step.target})

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        from regent.chaos import admin_actions

        return admin_actions.recommission(cluster, step.target)


def _recommissionable(model: Model) -> list[str]:
    return [s for s in model.running_regionservers if s in model.decommissioned]


# ---- schema ----


class AddFamily(Action):
    """Add a column family (chaos1, chaos2, ...) to the table: a rolling reopen of its regions."""

    name = "add_family"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return len(model.added_families) < MAX_ADDED_FAMILIES

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, f"{ADDED_FAMILY_PREFIX}{model.added + 1}", {"table": model.table})

    def apply(self, model: Model, step: Step) -> Model:
        return replace(model, families=(*model.families, step.target), added=model.added + 1)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.schema("add_family", step.target)


class ModifyFamily(Action):
    """Change a family's max_versions: a rolling reopen of the table's regions."""

    name = "modify_family"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return bool(model.families)

    def choose(self, rng: random.Random, model: Model) -> Step:
        family = rng.choice(model.families)
        return Step(self.name, family, {"table": model.table, "max_versions": rng.randint(*VERSIONS_RANGE)})

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.schema("modify_family", step.target, max_versions=int(step.params["max_versions"]))


class DeleteFamily(Action):
    """Delete a family the monkey added (never the table's own), so that adding can go on."""

    name = "delete_family"

    def eligible(self, model: Model, limits: Limits) -> bool:
        return bool(model.added_families)

    def choose(self, rng: random.Random, model: Model) -> Step:
        return Step(self.name, rng.choice(model.added_families), {"table": model.table})

    def apply(self, model: Model, step: Step) -> Model:
        families = tuple(f for f in model.families if f != step.target)
        return replace(model, families=families)

    def perform(self, cluster: ChaosCluster, step: Step) -> Outcome:
        return cluster.schema("delete_family", step.target)


for _kind in (
    KillRegionServer,
    PauseRegionServer,
    KillActiveMaster,
    RestartDaemon,
    MoveRegion,
    AddFamily,
    ModifyFamily,
    DeleteFamily,
    SplitRegion,
    MergeRegions,
    RunBalancer,
    DecommissionRegionServer,
    RecommissionRegionServer,
):
    register(_kind())


def heal(model: Model) -> list[Step]:
    """The steps that bring every killed daemon back, then every decommissioned RegionServer into service
    (the end of every run, and of an interrupted one)."""
    restarts = [Step(RestartDaemon.name, target) for target in _killed(model)]
    back = [Step(RecommissionRegionServer.name, s) for s in model.regionservers if s in model.decommissioned]
    return restarts + back


__all__ = ["REGISTRY", "Action", "Outcome", "Step", "heal", "register"]
