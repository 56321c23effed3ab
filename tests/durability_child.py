"""Child process of tests/test_durability.py, run under strace: acknowledged writes, each acknowledgement
marked by one write of b"ACK <n>\\n" to stdout the moment the caller learns its write is done.

    python tests/durability_child.py meta DIR      # MetaStore + MetaWriter: group-committed batches
    python tests/durability_child.py region DIR    # RegionStore: claimed, then one commit per row
    python tests/durability_child.py cells DIR     # the cell store's RegionWriter: group-committed rows

`meta` writes rounds of concurrent batches (so the writer group-commits several callers into one commit)
and prints each caller's ACK when its `await writer.write(batch)` returns. `region` prints an ACK when each
synchronous `RegionStore.mutate` returns. `cells` writes rounds of concurrent row mutations through a
region's writer (regionserver.data.writer), as the data RPCs do (the RegionServer answers a Mutate when
it returns), and prints each caller's ACK when its `await writer.mutate(rows)` returns.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from meta import MetaStore, MetaWriter, ServerName, WriteBatch
from meta.keys import u64
from meta.types import ColumnFamily
from regionserver.data import Claim, Put, RegionStore, RegionWriter, RowMutation

ROUNDS = 4
CALLERS = 3


def ack(n: int) -> None:
    os.write(1, b"ACK %d\n" % n)


async def _meta(path: Path) -> None:
    store = MetaStore.open(path)
    writer = MetaWriter(store, epoch=None)
    writer.start()

    async def caller(n: int) -> None:
        await writer.write(WriteBatch().put("region_state", u64(n), os.urandom(64)))
        ack(n)

    for r in range(ROUNDS):
        await asyncio.gather(*(caller(r * CALLERS + c) for c in range(CALLERS)))
    await writer.stop()
    store.close()


def _region(path: Path) -> None:
    """One commit per row, without the writer (the store's own synchronous mutate)."""
    store = RegionStore.open(
        path, Claim(ServerName("127.0.0.1", 16020, 1), 1), {b"f": ColumnFamily("f")}, create=True
    )
    for n in range(ROUNDS * CALLERS):
        assert store.mutate([RowMutation(b"row-%d" % n, (Put(b"f", b"q", os.urandom(64)),))]) == [None]
        ack(n)
    store.close()


async def _cells(path: Path) -> None:
    store = RegionStore(path, Claim(ServerName("127.0.0.1", 16020, 1), 1), {b"f": ColumnFamily("f")})
    writer = RegionWriter(store)
    writer.start()

    async def caller(n: int) -> None:
        failed = await writer.mutate([RowMutation(b"row-%d" % n, (Put(b"f", b"q", os.urandom(64)),))])
        assert failed == [None], failed
        ack(n)

    for r in range(ROUNDS):
        await asyncio.gather(*(caller(r * CALLERS + c) for c in range(CALLERS)))
    await writer.stop()
    store.close()


def main() -> None:
    what, path = sys.argv[1], Path(sys.argv[2])
    if what == "meta":
        asyncio.run(_meta(path))
    elif what == "cells":
        asyncio.run(_cells(path))
    else:
        _region(path)


if __name__ == "__main__":
    main()
