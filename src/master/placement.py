"""Where regions go: retain on the same host:port, otherwise even spreads of contiguous key ranges.

Pure functions over nodes and server names. Contiguous ranges keep every server's batch of rows a
contiguous run of meta keys (regions are numbered in key order at creation), so meta writes stay sequential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from master.regions import RegionNode
from meta import ServerName


def plan(
    nodes: Sequence[RegionNode], servers: Sequence[ServerName], load: Mapping[ServerName, int]
) -> dict[ServerName, list[RegionNode]]:
    """Assign `nodes` (in region id order) to `servers`.

    A region whose last server's host:port is live again goes back there (retain). The others are cut
    into contiguous runs so that every server ends with about the same number of regions, counting what
    it already holds (`load`).
    """
    if not servers:
        return {}
    by_address = {s.address: s for s in servers}
    out: dict[ServerName, list[RegionNode]] = {s: [] for s in servers}
    rest: list[RegionNode] = []
    for node in nodes:
        previous = node.server or node.target
        home = by_address.get(previous.address) if previous else None
        if home is not None:
            out[home].append(node)
        else:
            rest.append(node)
    total = sum(load.get(s, 0) for s in servers) + len(nodes)
    share = -(-total // len(servers))  # ceiling
    start = 0
    for server in sorted(servers, key=lambda s: (load.get(s, 0) + len(out[s]), s.host, s.port)):
        room = max(0, share - load.get(server, 0) - len(out[server]))
        out[server].extend(rest[start : start + room])
        start += room
    if start < len(rest):  # rounding left some: give them to the least loaded
        least = min(servers, key=lambda s: load.get(s, 0) + len(out[s]))
        out[least].extend(rest[start:])
    return {s: ns for s, ns in out.items() if ns}


def pick(
    servers: Sequence[ServerName], load: Mapping[ServerName, int], avoid: ServerName | None = None
) -> ServerName | None:
    """The least loaded server, other than `avoid` when there is another one."""
    choices = [s for s in servers if s != avoid] or list(servers)
    if not choices:
        return None
    return min(choices, key=lambda s: (load.get(s, 0), s.host, s.port))
