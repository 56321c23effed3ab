"""Every error the meta package raises. Messages say what was expected, what was found, and where."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meta.states import RegionState


class MetaError(Exception):
    """Base of meta's errors."""


class MetaOpenError(MetaError):
    """Meta could not be opened: missing permission, not a directory, ..."""


class MetaCorruptError(MetaOpenError):
    """The meta directory holds an LMDB file that LMDB cannot read."""


class MetaForeignError(MetaOpenError):
    """The meta directory holds something that is not Regent's meta (or another schema version)."""


class MetaNotInitialised(MetaOpenError):
    """Meta does not exist yet (opened with create=False, as a backup master does)."""


class MetaWriteError(MetaError):
    """A write could not be made durable. Nothing of it was applied."""


class MetaClosedError(MetaWriteError):
    """The writer was stopped before the write could be made durable."""


class InvalidMutation(MetaError):
    """A mutation is malformed (unknown database, key too long, not bytes). Refused before any write."""


class IllegalTransition(MetaError):
    """A region was asked to move to a state its current state does not lead to."""

    def __init__(self, region_id: int, current: RegionState, target: RegionState) -> None:
        self.region_id = region_id
        self.current = current
        self.target = target
        super().__init__(
            f"region {region_id}: illegal transition {current.name} -> {target.name} "
            f"(from {current.name} a region may go to {_allowed(current)})"
        )


def _allowed(current: RegionState) -> str:
    from meta.states import TRANSITIONS

    targets = sorted(s.name for s in TRANSITIONS[current])
    return ", ".join(targets) if targets else "nothing: it is final"
