"""A WriteBatch: the mutations one caller hands to the single writer, applied all together or not at all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from meta.errors import InvalidMutation

#: Names of meta's LMDB databases (docs/architecture.md says what each holds).
DATABASES: tuple[str, ...] = ("tables", "regions", "region_state", "procedures", "servers", "info")
MAX_KEY = 511  # LMDB's default key size limit

Updater = Callable[[bytes | None], bytes | None]


@dataclass(slots=True)
class Op:
    db: str
    kind: str  # "put", "put_many", "delete", "update"
    key: bytes = b""
    value: bytes | None = None
    items: Sequence[tuple[bytes, bytes]] = ()
    fn: Updater | None = None


@dataclass(slots=True)
class WriteBatch:
    """Mutations applied in order, in one transaction, all or nothing.

    `put_many` takes rows already sorted by key where it can: LMDB writes them page by page.
    `update` is a read-modify-write done inside the writer's transaction (counters, epochs): `fn` gets
    the current value (None if absent) and returns the new one (None deletes).
    """

    ops: list[Op] = field(default_factory=list)

    def put(self, db: str, key: bytes, value: bytes) -> WriteBatch:
        _check(db, key)
        if not isinstance(value, bytes):
            raise InvalidMutation(f"put into {db!r}: value must be bytes, got {type(value).__name__}")
        self.ops.append(Op(db, "put", key, value))
        return self

    def put_many(self, db: str, items: Sequence[tuple[bytes, bytes]]) -> WriteBatch:
        _check(db, b"-")
        if items:
            self.ops.append(Op(db, "put_many", items=items))
        return self

    def delete(self, db: str, key: bytes) -> WriteBatch:
        _check(db, key)
        self.ops.append(Op(db, "delete", key))
        return self

    def update(self, db: str, key: bytes, fn: Updater) -> WriteBatch:
        _check(db, key)
        self.ops.append(Op(db, "update", key, fn=fn))
        return self

    def __len__(self) -> int:
        return sum(len(op.items) if op.kind == "put_many" else 1 for op in self.ops)


def _check(db: str, key: bytes) -> None:
    if db not in DATABASES:
        raise InvalidMutation(f"unknown meta database {db!r}; expected one of {', '.join(DATABASES)}")
    if not isinstance(key, bytes) or not 0 < len(key) <= MAX_KEY:
        raise InvalidMutation(
            f"key for {db!r} must be 1..{MAX_KEY} bytes, got "
            + (f"{len(key)} bytes" if isinstance(key, bytes) else type(key).__name__)
        )
