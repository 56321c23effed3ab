"""Making new files and directories durable: an fsync of a file does not make its directory entry durable.

LMDB fsyncs its data file at every commit, but a new environment's `data.mdb`, and directories made for it,
exist after a power cut only once their parent directories are synced too. Called once per new environment
(meta at its creation, a region store at its first write), never on a hot path.
"""

from __future__ import annotations

import os
from pathlib import Path


def missing_parents(path: Path) -> list[Path]:
    """The directories `mkdir(parents=True)` would create for `path`, outermost first."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    return missing[::-1]


def sync_new_entries(path: Path, created: list[Path]) -> None:
    """fsync `path` (a directory whose new files must survive) and the parent of every directory in
    `created` (made just now), so that each new entry is durable."""
    for directory in {path, *(p.parent for p in created)}:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
