"""The region store's exceptions, in one place: what a caller of the data path can be told.

    StoreError                the store cannot be opened or used (the region cannot be served here)
    ├── Fenced                a newer open of the region owns the store: stop serving the region
    └── RowError              one row of a batch is refused, nothing of that row written
        ├── RowTooLong        a row key over MAX_ROW_BYTES (or an empty one)
        ├── CellTooLarge      a cell over the store's max_cell_bytes
        ├── NoSuchFamily      a family the table descriptor does not have
        ├── NotACounter       an increment of a cell that is not an 8-byte big-endian integer
        └── BadMutation       a mutation that cannot mean anything (a negative timestamp, a wrong row)

Row errors are values in a batch's answer (a batch reports which rows failed); Fenced and StoreError are
raised, because they concern the whole region.
"""

from __future__ import annotations


class StoreError(Exception):
    """The region store cannot be opened or used."""


class Fenced(StoreError):
    """A newer open of the region owns the store: this server must stop serving the region."""


class RowError(StoreError):
    """One row of a write is refused; nothing of that row was written."""


class RowTooLong(RowError):
    """A row key longer than HBase's 32,767 bytes, or empty."""


class CellTooLarge(RowError):
    """A cell (row, family, qualifier and value together) over the store's maximum cell size."""


class NoSuchFamily(RowError):
    """A column family the table's descriptor does not have."""


class NotACounter(RowError):
    """An increment of a cell whose value is not an 8-byte big-endian signed integer."""


class BadMutation(RowError):
    """A mutation that cannot be applied as given (a timestamp out of range, a check on another row)."""
