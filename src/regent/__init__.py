"""Regent: a ZooKeeper-less region coordinator in the style of HBase 2.x.

import regent
conn = regent.connect("127.0.0.1:16000")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from client.connection import Connection


def connect(masters: str, **options: Any) -> Connection:
    """Connect to a Regent cluster through its master(s): "host:port[,host:port...]"."""
    from client.connection import Connection

    return Connection(masters, **options)


__all__ = ["__version__", "connect"]
