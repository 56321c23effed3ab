"""Finding the active master from any master's address: the decisions, with no I/O.

Every master, active or backup, answers GetClusterInfo with whether it is active, the address of the master
that holds the election lock (`active_master`) and every running master (`masters`), as HBase 2.3+'s master
registry does. So a client or RegionServer given one master's address asks it, then asks the masters it
names, and learns the others for the next failover. The SDK (threads and gRPC futures) and the RegionServer
(asyncio) drive the same `Discovery`; only the waiting differs.

A master's word that it is active is the only thing trusted: `active_master` and a refusal's
"regent-active-master" only say where to ask next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The trailing metadata key of a NotActiveMaster refusal that names the active master.
ACTIVE_MASTER_KEY = "regent-active-master"
#: How often a process that talks to the active master asks it again for the list of masters, so that a
#: backup started later is known by the time the active master dies.
MASTERS_REFRESH_S = 10.0
#: Redirects a call follows at once (no backoff) before it backs off as for any other failure: two masters
#: that name each other (each reading a stale announcement) must not make a call spin.
MAX_REDIRECTS = 3


@dataclass(frozen=True, slots=True)
class MasterAnswer:
    """A master's answer to GetClusterInfo, as discovery needs it."""

    active: bool
    active_master: str
    masters: tuple[str, ...]

    @classmethod
    def from_info(cls, info: Any) -> MasterAnswer:
        """From a master_pb2.ClusterInfo."""
        return cls(bool(info.active), str(info.active_master), tuple(str(m) for m in info.masters))


class KnownMasters:
    """The master addresses a process knows: the configured ones, always, then those the masters last named
    (which drop a master once it has died, and gain one when it starts)."""

    def __init__(self, configured: Iterable[str]) -> None:
        self.configured = tuple(dict.fromkeys(configured))
        self._learned: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.configured + self._learned

    def learn(self, named: Iterable[str]) -> None:
        """Replace what was learned with `named` (one atomic assignment: safe across threads)."""
        self._learned = tuple(a for a in dict.fromkeys(named) if a and a not in self.configured)


class Discovery:
    """One round of looking for the active master: which addresses to ask, given the answers so far.

    `first()` gives every known address (asked at once, in parallel: a hung master costs nothing when
    another answers); each answer may name addresses not asked yet, which `answered()` returns to ask next.
    The round is over when a master says it is active, or when every master asked has answered or failed.
    `finish()` then records the masters named, for the next round.
    """

    def __init__(self, known: KnownMasters) -> None:
        self._known = known
        self.asked: list[str] = []
        self.pending: set[str] = set()
        self.problems: dict[str, str] = {}
        self.found: str | None = None
        self._named: list[str] = []
        self._answers = 0

    def first(self) -> list[str]:
        return self._ask(self._known.all)

    def answered(self, address: str, answer: MasterAnswer) -> list[str]:
        """`address` answered: the addresses to ask now (none once the active master is found)."""
        self.pending.discard(address)
        self._answers += 1
        self._named += answer.masters
        if answer.active:
            self.found = self.found or address
            return []
        hint = answer.active_master
        self.problems[address] = "not the active master" + (
            f" (it names {hint})" if hint and hint != address else ""
        )
        return self._ask([hint, *answer.masters])

    def failed(self, address: str, problem: str) -> None:
        self.pending.discard(address)
        self.problems[address] = problem

    @property
    def done(self) -> bool:
        return self.found is not None or not self.pending

    def finish(self) -> str | None:
        """The active master found, if any; what the masters named becomes what is known beyond the
        configured addresses (unchanged if none answered)."""
        if self._answers:
            self._known.learn(self._named)
        return self.found

    def _ask(self, addresses: Iterable[str]) -> list[str]:
        new = [a for a in dict.fromkeys(addresses) if a and a not in self.asked]
        self.asked += new
        self.pending.update(new)
        return new


def redirect(trailing_metadata: Any, asked: str) -> str | None:
    """The active master a NotActiveMaster refusal from `asked` names, if it names another one."""
    for key, value in trailing_metadata or ():
        if key == ACTIVE_MASTER_KEY:
            target = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            return target if target and target != asked else None
    return None


__all__ = [
    "ACTIVE_MASTER_KEY",
    "MASTERS_REFRESH_S",
    "MAX_REDIRECTS",
    "Discovery",
    "KnownMasters",
    "MasterAnswer",
    "redirect",
]
