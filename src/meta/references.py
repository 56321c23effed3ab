"""The REFERENCES file of a split daughter or merged child: which parent stores it still reads.

    ROOTDIR/data/<table>/<child id>/REFERENCES
    {"version": 1, "references": [{"region_id": 123, "start_key": "<hex>", "end_key": "<hex>"}, ...]}

Each entry names a parent store (ROOTDIR/data/<table>/<region_id>/) and the rows [start_key, end_key) of it
the child reads ("" for the table's start or end). The master's split and merge procedures write the file
before their point of no return; the RegionServer serving the child reads it at open, and removes it once a
fold has copied the referenced cells into the child's own store. The catalog janitor removes a parent only
when no child's file names it: no file means the child references nothing.

The format is shared by the master and the RegionServers, so it lives here rather than with either. Writes
and removals are atomic and durable (temporary file, fsync, rename, fsync of the directory); a file that
cannot be parsed is an error naming the file and what is wrong with it, never read as "no references".
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from regent.durable import missing_parents, sync_new_entries

FILE_NAME = "REFERENCES"
VERSION = 1


class ReferencesError(Exception):
    """A REFERENCES file that cannot be read or is malformed."""


@dataclass(frozen=True, slots=True)
class Reference:
    """Rows [start_key, end_key) of the parent store of region `region_id` (same table)."""

    region_id: int
    start_key: bytes
    end_key: bytes  # b"" = the table's end

    def contains(self, row: bytes) -> bool:
        return self.start_key <= row and (not self.end_key or row < self.end_key)


def path_of(store_dir: Path) -> Path:
    return store_dir / FILE_NAME


def encode(references: Sequence[Reference]) -> bytes:
    entries = [
        {"region_id": r.region_id, "start_key": r.start_key.hex(), "end_key": r.end_key.hex()}
        for r in sorted(references, key=lambda r: r.start_key)
    ]
    return json.dumps({"version": VERSION, "references": entries}, indent=1).encode()


def decode(raw: bytes, where: str = "REFERENCES") -> list[Reference]:
    """The references `raw` holds, sorted by start key; ReferencesError says what is malformed."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferencesError(f"{where}: not UTF-8 JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ReferencesError(f"{where}: expected an object with version {VERSION}, got {str(doc)[:200]}")
    entries = doc.get("references")
    if not isinstance(entries, list):
        raise ReferencesError(f"{where}: 'references' must be a list")
    out: list[Reference] = []
    for i, entry in enumerate(entries):
        try:
            region_id = entry["region_id"]
            if not isinstance(region_id, int) or isinstance(region_id, bool) or not 0 < region_id < 2**64:
                raise ValueError(f"region_id {region_id!r} is not a region id")
            ref = Reference(region_id, bytes.fromhex(entry["start_key"]), bytes.fromhex(entry["end_key"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferencesError(f"{where}: entry {i} is malformed ({exc})") from None
        out.append(ref)
    out.sort(key=lambda r: r.start_key)
    for before, after in itertools.pairwise(out):
        if not before.end_key or before.end_key > after.start_key:
            raise ReferencesError(
                f"{where}: the ranges of regions {before.region_id} and {after.region_id} overlap"
            )
    return out


def read(store_dir: Path) -> list[Reference] | None:
    """The references of the child whose store directory is `store_dir`; None when it has no file."""
    path = path_of(store_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReferencesError(f"cannot read {path}: {exc}") from None
    return decode(raw, str(path))


def write(store_dir: Path, references: Sequence[Reference]) -> None:
    """Write (or replace) the file atomically and durably, creating the directory if need be."""
    created = missing_parents(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    path = path_of(store_dir)
    tmp = store_dir / f".{FILE_NAME}.tmp"
    with open(tmp, "wb") as f:
        f.write(encode(references))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_new_entries(store_dir, created)


def remove(store_dir: Path) -> None:
    """Remove the file durably (the child references nothing any more); no file is not an error."""
    with contextlib.suppress(FileNotFoundError):
        path_of(store_dir).unlink()
        sync_new_entries(store_dir, [])
