"""What the chaos monkey believes about the cluster it acts on: pure data, changed only by its choices.

The sequence of actions must derive from the seed alone, so nothing observed during a run may steer it:
which RegionServers are down is what the monkey itself did (it killed them and has not restarted them),
not what the master says. An action that fails leaves the model as if it had succeeded; its outcome is
logged, and the healing at the end (every killed daemon restarted) mends what a failure left.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: Families the monkey adds beyond the table's own, at most (then it only modifies or deletes them).
MAX_ADDED_FAMILIES = 3
#: The prefix of the families the monkey adds (so it never deletes one it did not add).
ADDED_FAMILY_PREFIX = "chaos"


@dataclass(frozen=True, slots=True)
class Limits:
    """What the monkey must never do. `min_live`: RegionServers running, not paused and not
    decommissioned (in service), at least."""

    min_live: int = 1


@dataclass(frozen=True, slots=True)
class Model:
    """The cluster as the monkey sees it.

    `regionservers`: "regionserver #0", "#1", ... (the i-th RegionServer regent local lists: a plan is
    then the same on any cluster of that shape, whatever its ports); `masters`: the masters' names.
    `killed`: the RegionServers killed and not restarted. `masters_killed`: masters killed and not
    restarted (the active one is killed, whichever it is: the model counts them, it does not name them).
    `decommissioned`: the RegionServers the monkey decommissioned and has not recommissioned (a mark the
    master keeps by address: a decommissioned server killed and restarted stays out of service).
    `can_signal`: the monkey controls the processes (a `regent local` cluster); without, only actions
    through the master run. `table`, `regions`: the table acted on and its region count (splits and
    merges change it); `families`: its families, in order; `added`: how many families the monkey has
    added so far (names are numbered).
    """

    regionservers: tuple[str, ...]
    masters: tuple[str, ...]
    table: str
    regions: int
    families: tuple[str, ...]
    can_signal: bool = True
    killed: frozenset[str] = field(default_factory=frozenset)
    masters_killed: int = 0
    added: int = 0
    decommissioned: frozenset[str] = field(default_factory=frozenset)

    @property
    def running_regionservers(self) -> tuple[str, ...]:
        return tuple(s for s in self.regionservers if s not in self.killed)

    @property
    def in_service(self) -> tuple[str, ...]:
        """The RegionServers running and not decommissioned: those that take regions."""
        return tuple(s for s in self.running_regionservers if s not in self.decommissioned)

    @property
    def running_masters(self) -> int:
        return len(self.masters) - self.masters_killed

    @property
    def added_families(self) -> tuple[str, ...]:
        return tuple(f for f in self.families if f.startswith(ADDED_FAMILY_PREFIX))

    def with_killed(self, name: str) -> Model:
        return replace(self, killed=self.killed | {name})

    def with_restarted(self, name: str) -> Model:
        if name == "master":
            return replace(self, masters_killed=max(0, self.masters_killed - 1))
        return replace(self, killed=self.killed - {name})

    def describe(self) -> dict[str, object]:
        """The model as the start record of a run logs it (what a replay must start from)."""
        return {
            "regionservers": list(self.regionservers),
            "masters": list(self.masters),
            "table": self.table,
            "regions": self.regions,
            "families": list(self.families),
            "can_signal": self.can_signal,
        }


__all__ = ["ADDED_FAMILY_PREFIX", "MAX_ADDED_FAMILIES", "Limits", "Model"]
