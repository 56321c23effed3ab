"""Child process of tests/test_meta_crash.py: writes numbered batches to meta until it is killed.

    python tests/meta_crash_child.py --path DIR --acks FILE [--first I] [--tasks N] [--map-size BYTES]
                                     [--max-payload BYTES] [--lifetime SECONDS]

Batch i (numbered from --first on) puts one payload derived from i under a key of its own in `region_state`,
`procedures` and `tables`, and counts itself in `info`/crash_batches: a half-applied batch shows as a missing
row, a wrong value or a count that disagrees with the rows. Several tasks write concurrently, so the writer
group-commits them.

Once `await writer.write(batch)` has returned, the child appends "i\\n" to the ack file (one unbuffered
os.write: a SIGKILL does not lose the page cache, so no fsync), then writes one byte to stdout so that the
parent can count acknowledgements as they come instead of polling the file. It writes b"S" to stdout once
meta is open and the writer runs. It exits on its own after --lifetime seconds, or when stdout is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import sys
from pathlib import Path

from meta import MetaStore, MetaWriter, WriteBatch
from meta.keys import from_u64, u64

COUNTER_KEY = b"crash_batches"
#: The databases every batch writes one row into.
BATCH_DATABASES = ("region_state", "procedures", "tables")


def payload(i: int, max_payload: int) -> bytes:
    """The value every row of batch i carries: 16..max_payload bytes, different for every i."""
    size = 16 + (i * 7919) % max(1, max_payload - 15)
    digest = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=32).digest()
    return (digest * (size // len(digest) + 1))[:size]


def row_key(db: str, i: int) -> bytes:
    return b"crash-table-%012d" % i if db == "tables" else u64(i)


def batch_id(db: str, key: bytes) -> int:
    """Inverse of row_key."""
    return int(key.removeprefix(b"crash-table-")) if db == "tables" else from_u64(key)


def count_one_more(old: bytes | None) -> bytes:
    return u64((from_u64(old) if old else 0) + 1)


def make_batch(i: int, max_payload: int) -> WriteBatch:
    value = payload(i, max_payload)
    batch = WriteBatch()
    batch.put("region_state", row_key("region_state", i), value)
    batch.put_many("procedures", [(row_key("procedures", i), value)])
    batch.put("tables", row_key("tables", i), value)
    batch.update("info", COUNTER_KEY, count_one_more)
    return batch


async def write_forever(
    path: Path, acks: Path, *, first: int, tasks: int, map_size: int, max_payload: int
) -> None:
    store = MetaStore.open(path, map_size=map_size)
    writer = MetaWriter(store)
    writer.start()
    ack_fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    numbers = itertools.count(first)
    os.write(sys.stdout.fileno(), b"S")

    async def one_writer() -> None:
        while True:
            i = next(numbers)
            await writer.write(make_batch(i, max_payload))
            os.write(ack_fd, b"%d\n" % i)
            os.write(sys.stdout.fileno(), b".")

    await asyncio.gather(*(one_writer() for _ in range(tasks)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--acks", type=Path, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first batch")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--map-size", type=int, default=1 << 30)
    parser.add_argument("--max-payload", type=int, default=512)
    parser.add_argument("--lifetime", type=float, default=60.0, help="exit after this many seconds anyway")
    args = parser.parse_args()

    async def run() -> None:
        asyncio.get_running_loop().call_later(args.lifetime, os._exit, 3)
        await write_forever(
            args.path,
            args.acks,
            first=args.first,
            tasks=args.tasks,
            map_size=args.map_size,
            max_payload=args.max_payload,
        )

    try:
        asyncio.run(run())
    except BrokenPipeError:  # the parent went away
        os._exit(4)


if __name__ == "__main__":
    main()
