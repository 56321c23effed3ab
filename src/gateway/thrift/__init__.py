"""`regent thrift`: HBase's Thrift1 `Hbase` service over the Regent SDK, so that happybase programs (and
any Thrift HBase client) run unchanged against Regent. docs/thrift.md lists the methods and the differences
from HBase's own gateway.

- idl: HBase's Hbase.thrift, loaded with thriftpy2
- handler (table_calls, read_calls, write_calls, scanner_calls): the methods, Thrift <-> SDK (convert)
- errors: SDK errors -> IOError / IllegalArgument / AlreadyExists
- scanners: open scanners, idle expiry, a bound per connection
- wire, server: sockets, transports, protocols, limits; daemon: the process and its options
"""

from gateway.thrift.calls import Gateway
from gateway.thrift.daemon import ThriftConfig
from gateway.thrift.handler import Handler
from gateway.thrift.scanners import ScannerRegistry
from gateway.thrift.server import ServerOptions, ThriftServer

__all__ = ["Gateway", "Handler", "ScannerRegistry", "ServerOptions", "ThriftConfig", "ThriftServer"]
