"""When a RegionServer asks the master to split a region: HBase's SteppingSplitPolicy, as pure functions.

A region is due for a split when its store passes

    max_region_size / 8   while its table has at most one region on this server,
    max_region_size       otherwise,

times a jitter in [0.75, 1.25) fixed per region (a hash of its id), so that regions written at the same
pace do not all split at once (HBase's hbase.hregion.max.filesize.jitter). A table written from empty thus
splits early while it has one region here, and then only at the maximum.

`max_region_size` and `split_enabled` come with each open (TableOpens.settings, the master's defaults
filled in). Unset settings, a `max_region_size` of 0, or `split_enabled` false: no automatic split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from regent.proto import common_pb2

JITTER_LOW = 0.75
JITTER_HIGH = 1.25
FIRST_STEP_DIVISOR = 8  # the first split comes at max_region_size / 8


@dataclass(frozen=True, slots=True)
class SplitSettings:
    """What the automatic split of a table's regions needs of its settings."""

    max_region_size: int = 0
    split_enabled: bool = True

    @classmethod
    def of(cls, settings: common_pb2.TableSettings | None) -> SplitSettings | None:
        """From an open order's settings (None when the order carried none)."""
        if settings is None:
            return None
        enabled = settings.split_enabled if settings.HasField("split_enabled") else True
        return cls(settings.max_region_size, enabled)

    @property
    def automatic(self) -> bool:
        return self.split_enabled and self.max_region_size > 0


def jitter(region_id: int) -> float:
    """The region's factor in [JITTER_LOW, JITTER_HIGH): the same for a region wherever it opens."""
    digest = hashlib.blake2b(region_id.to_bytes(8, "big"), digest_size=8).digest()
    return JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * (int.from_bytes(digest, "big") / 2**64)


def threshold(max_region_size: int, table_regions_here: int, region_id: int) -> int:
    """The store size past which region `region_id` asks for a split, with `table_regions_here` regions
    of its table (itself included) on this server."""
    base = max_region_size // FIRST_STEP_DIVISOR if table_regions_here <= 1 else max_region_size
    return max(1, int(base * jitter(region_id)))


def due(
    settings: SplitSettings | None, region_bytes: int, table_regions_here: int, region_id: int
) -> int | None:
    """The threshold `region_bytes` passed (the region should split), or None."""
    if settings is None or not settings.automatic:
        return None
    limit = threshold(settings.max_region_size, table_regions_here, region_id)
    return limit if region_bytes >= limit else None
