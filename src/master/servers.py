"""Which RegionServer incarnations are alive: registration, heartbeats, leases. Pure logic, no I/O.

An incarnation is host:port:startcode. A new startcode on a known host:port means the old incarnation died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from meta import ServerName
from meta.codec import intern_server


@dataclass(slots=True)
class ServerInfo:
    name: ServerName
    registered_at: float
    last_heartbeat: float
    region_count: int = 0
    requests: int = 0  # the server's request counter, as last reported
    requests_per_s: float = 0.0  # its rate over the last heartbeats (smoothed)
    store_bytes: int = 0


class ServerManager:
    def __init__(self, *, lease_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_s = lease_s
        self._clock = clock
        self._live: dict[str, ServerInfo] = {}  # by host:port
        self.dead: set[ServerName] = set()
        #: host:port of decommissioned servers: live or not, no region is placed there (master.chores)
        self.decommissioned: set[str] = set()

    def register(self, name: ServerName) -> list[ServerName]:
        """Record a starting incarnation; return the older incarnations on its host:port, now dead."""
        if name in self.dead:
            raise ValueError(f"server {name} was declared dead: a dead incarnation cannot come back")
        name = intern_server(name)
        now = self._clock()
        replaced = []
        current = self._live.get(name.address)
        if current is not None and current.name != name:
            if current.name.startcode > name.startcode:
                raise ValueError(
                    f"server {name} is older than the registered incarnation {current.name}: refused"
                )
            replaced.append(current.name)
            self.dead.add(current.name)
        if current is None or current.name != name:
            self._live[name.address] = ServerInfo(name, now, now)
        else:
            current.last_heartbeat = now
        return replaced

    def heartbeat(self, name: ServerName, region_count: int, requests: int, store_bytes: int = 0) -> bool:
        """Renew the lease of a live incarnation and take its load; False if it is not (unknown or
        declared dead)."""
        info = self._live.get(name.address)
        if info is None or info.name != name:
            return False
        now = self._clock()
        elapsed = now - info.last_heartbeat
        if elapsed > 0 and requests >= info.requests:
            rate = (requests - info.requests) / elapsed
            info.requests_per_s = rate if not info.requests_per_s else (info.requests_per_s + rate) / 2
        info.last_heartbeat = now
        info.region_count = region_count
        info.requests = requests
        info.store_bytes = store_bytes
        return True

    def is_live(self, name: ServerName) -> bool:
        info = self._live.get(name.address)
        return info is not None and info.name == name

    def by_address(self, address: str) -> ServerName | None:
        info = self._live.get(address)
        return info.name if info else None

    def live(self) -> list[ServerName]:
        return sorted((i.name for i in self._live.values()), key=lambda n: (n.host, n.port))

    def targets(self) -> list[ServerName]:
        """Live incarnations that may take regions: not decommissioned."""
        return [s for s in self.live() if s.address not in self.decommissioned]

    def info(self, name: ServerName) -> ServerInfo | None:
        info = self._live.get(name.address)
        return info if info is not None and info.name == name else None

    def infos(self) -> list[ServerInfo]:
        return sorted(self._live.values(), key=lambda i: (i.name.host, i.name.port))

    def expire(self, name: ServerName) -> bool:
        """Declare an incarnation dead; False if it was not live."""
        info = self._live.get(name.address)
        if info is None or info.name != name:
            return False
        del self._live[name.address]
        self.dead.add(name)
        return True

    def forgive(self, seconds: float) -> None:
        """The master itself was stalled for `seconds` and could not hear anybody: extend every lease by
        that much. Always safe: the master only ever waits longer than a RegionServer fences itself."""
        for info in self._live.values():
            info.last_heartbeat += seconds

    def expired(self) -> list[ServerName]:
        """Live incarnations whose lease ran out."""
        deadline = self._clock() - self.lease_s
        return [i.name for i in self._live.values() if i.last_heartbeat < deadline]

    def age_ms(self, info: ServerInfo) -> int:
        return max(0, int((self._clock() - info.last_heartbeat) * 1000))
