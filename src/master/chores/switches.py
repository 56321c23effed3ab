"""The operator's switches of the master's background work, kept in meta (info/"switches", a MasterSwitches)
so that a new master after a failover starts with them: the balancer's and the catalog janitor's on/off
switches, the split and merge switches, and the decommissioned servers.

The active master holds them in memory and writes the whole record on every change, through the single
writer, before it answers the operator: a switch flipped and acknowledged survives any crash after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from meta import MetaStore, WriteBatch
from regent.proto import meta_pb2

KEY = b"switches"


@dataclass(frozen=True, slots=True)
class Decommissioned:
    address: str  # host:port
    offload: bool
    since_ms: int


@dataclass(frozen=True, slots=True)
class Switches:
    balancer_on: bool = True
    decommissioned: tuple[Decommissioned, ...] = ()
    catalog_janitor_on: bool = True
    split_on: bool = True
    merge_on: bool = True

    def to_bytes(self) -> bytes:
        record = meta_pb2.MasterSwitches(
            balancer_off=not self.balancer_on,
            catalog_janitor_off=not self.catalog_janitor_on,
            split_off=not self.split_on,
            merge_off=not self.merge_on,
            decommissioned=[
                meta_pb2.DecommissionedServer(address=d.address, offload=d.offload, since_ms=d.since_ms)
                for d in self.decommissioned
            ],
        )
        return record.SerializeToString()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Switches:
        record = meta_pb2.MasterSwitches.FromString(raw)
        return cls(
            balancer_on=not record.balancer_off,
            catalog_janitor_on=not record.catalog_janitor_off,
            split_on=not record.split_off,
            merge_on=not record.merge_off,
            decommissioned=tuple(
                Decommissioned(d.address, d.offload, d.since_ms) for d in record.decommissioned
            ),
        )

    def addresses(self) -> set[str]:
        return {d.address for d in self.decommissioned}


def load(store: MetaStore) -> Switches:
    with store.snapshot() as snap:
        raw = snap.get("info", KEY)
    return Switches.from_bytes(raw) if raw else Switches()


class SwitchBoard:
    """The switches in memory and their writes to meta, one change at a time."""

    def __init__(self, switches: Switches, persist: Callable[[WriteBatch], Awaitable[None]]) -> None:
        self.now = switches
        self._persist = persist
        self._lock = asyncio.Lock()

    def offloaded(self) -> set[str]:
        """Decommissioned servers whose regions are to be moved off."""
        return {d.address for d in self.now.decommissioned if d.offload}

    async def _save(self, switches: Switches) -> None:
        await self._persist(WriteBatch().put("info", KEY, switches.to_bytes()))
        self.now = switches

    async def set_balancer(self, on: bool) -> bool:
        """Switch the balancer; return its previous state."""
        async with self._lock:
            previous = self.now.balancer_on
            if previous != on:
                await self._save(replace(self.now, balancer_on=on))
            return previous

    async def set_catalog_janitor(self, on: bool) -> bool:
        """Switch the catalog janitor's periodic runs; return the previous state."""
        async with self._lock:
            previous = self.now.catalog_janitor_on
            if previous != on:
                await self._save(replace(self.now, catalog_janitor_on=on))
            return previous

    async def set_split_merge(self, kind: str, on: bool) -> bool:
        """Switch splits ("split") or merges ("merge") on or off, cluster-wide; return the previous state."""
        async with self._lock:
            now = self.now
            previous = now.split_on if kind == "split" else now.merge_on
            if previous != on:
                await self._save(replace(now, split_on=on) if kind == "split" else replace(now, merge_on=on))
            return previous

    async def decommission(self, addresses: list[str], offload: bool) -> None:
        async with self._lock:
            now_ms = int(time.time() * 1000)
            kept = [d for d in self.now.decommissioned if d.address not in addresses]
            added = [Decommissioned(a, offload, now_ms) for a in addresses]
            await self._save(replace(self.now, decommissioned=tuple(sorted(kept + added, key=_by_address))))

    async def recommission(self, address: str) -> bool:
        """Clear a server's mark; False if it had none."""
        async with self._lock:
            kept = tuple(d for d in self.now.decommissioned if d.address != address)
            if len(kept) == len(self.now.decommissioned):
                return False
            await self._save(replace(self.now, decommissioned=kept))
            return True


def _by_address(d: Decommissioned) -> str:
    return d.address
