"""The Hbase service's handler: every method of the IDL, each failure turned into a declared exception.

`Handler` gathers the parts (tables, reads, writes, scanners); one instance serves one Thrift connection.
Every method of the IDL is wrapped by `_guarded`: whatever it raises reaches the client as the IOError,
IllegalArgument or AlreadyExists its method declares (gateway.thrift.errors), never as a dropped
connection, and an error the gateway did not expect is also logged with its traceback. Methods HBase
serves that Regent has no equivalent for answer IOError saying so (`UNSUPPORTED`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import structlog
from thriftpy2.thrift import TException

from client.errors import RegentError
from gateway.thrift.errors import BadArgument, Unsupported, to_thrift
from gateway.thrift.idl import METHODS
from gateway.thrift.read_calls import ReadCalls
from gateway.thrift.scanner_calls import ScannerCalls
from gateway.thrift.scanners import TooManyScanners
from gateway.thrift.table_calls import TableCalls
from gateway.thrift.write_calls import WriteCalls

log = structlog.get_logger("thrift")

#: Methods of HBase's IDL that the gateway does not serve, and why (each answers IOError with this).
UNSUPPORTED: dict[str, str] = {
    "append": "append is not supported by Regent's Thrift gateway (Regent has no append operation)",
    "checkAndPut": "checkAndPut is not supported by Regent's Thrift gateway yet",
}
#: Failures that are the caller's or the cluster's, expected: answered without a traceback in the log.
_EXPECTED = (RegentError, BadArgument, Unsupported, TooManyScanners, ValueError, TypeError)


class Handler(TableCalls, ReadCalls, WriteCalls, ScannerCalls):
    """One Thrift connection's handler of the Hbase service."""


def _unsupported(name: str) -> Callable[..., Any]:
    def call(self: Handler, *args: Any) -> Any:
        raise Unsupported(UNSUPPORTED[name])

    call.__name__ = name
    return call


def _guarded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Handler, *args: Any) -> Any:
        try:
            return method(self, *args)
        except TException:
            raise
        except _EXPECTED as exc:
            raise to_thrift(name, exc) from None
        except Exception as exc:
            log.exception("call_failed", method=name, error=type(exc).__name__)
            raise to_thrift(name, exc) from None

    return call


for _name in METHODS:
    _impl = getattr(Handler, _name, None) or _unsupported(_name)
    setattr(Handler, _name, _guarded(_name, _impl))

__all__ = ["UNSUPPORTED", "Handler"]
