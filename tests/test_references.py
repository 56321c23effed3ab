"""The REFERENCES file format (meta.references): round trip, atomic replace and removal, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meta import references
from meta.references import Reference, ReferencesError


def test_round_trip_and_remove(tmp_path: Path) -> None:
    store = tmp_path / "data" / "t" / "7"
    assert references.read(store) is None
    refs = [Reference(5, b"m", b""), Reference(3, b"", b"m")]
    references.write(store, refs)
    assert references.read(store) == sorted(refs, key=lambda r: r.start_key)
    references.write(store, refs[:1])
    assert references.read(store) == refs[:1]
    references.remove(store)
    assert references.read(store) is None
    references.remove(store)  # already gone: not an error


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=6, unique=True))
def test_any_tiling_round_trips(boundaries: list[bytes]) -> None:
    keys = sorted(set(boundaries) | {b""})
    refs = [
        Reference(i + 1, start, end)
        for i, (start, end) in enumerate(zip(keys, [*keys[1:], b""], strict=True))
    ]
    assert references.decode(references.encode(refs)) == refs


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\xff", "not UTF-8 JSON"),
        (b"[]", "version"),
        (b'{"version": 1, "references": {}}', "must be a list"),
        (b'{"version": 1, "references": [{"region_id": "x", "start_key": "", "end_key": ""}]}', "entry 0"),
        (b'{"version": 1, "references": [{"region_id": 1, "start_key": "zz", "end_key": ""}]}', "entry 0"),
        (
            b'{"version": 1, "references": [{"region_id": 1, "start_key": "", "end_key": ""},'
            b' {"region_id": 2, "start_key": "61", "end_key": ""}]}',
            "overlap",
        ),
    ],
)
def test_malformed_files_say_what_is_wrong(tmp_path: Path, raw: bytes, says: str) -> None:
    (tmp_path / "REFERENCES").write_bytes(raw)
    with pytest.raises(ReferencesError, match=says):
        references.read(tmp_path)
