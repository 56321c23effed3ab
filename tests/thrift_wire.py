"""Raw Thrift bytes for bad-input tests: calls encoded by hand (so that they can be wrong on purpose) and
sockets that read what the gateway answers, or see it close the connection."""

from __future__ import annotations

import socket
import struct
from typing import Any

from thriftpy2.protocol import TBinaryProtocol, TCompactProtocol
from thriftpy2.thrift import TMessageType
from thriftpy2.transport import TMemoryBuffer

from gateway.thrift.idl import Hbase
from tests.cluster import LOOPBACK

#: Thrift's binary protocol: a strict message header, and the field type ids used here.
VERSION_1 = 0x80010000
T_STOP, T_I32, T_STRING = 0, 8, 11


def binary_call(name: str, fields: bytes, seqid: int = 1) -> bytes:
    """A binary-protocol CALL of `name` whose argument struct is `fields` (then a STOP)."""
    header = struct.pack(">I", VERSION_1 | TMessageType.CALL) + struct.pack(">i", len(name)) + name.encode()
    return header + struct.pack(">i", seqid) + fields + bytes([T_STOP])


def string_field(field_id: int, value: bytes, *, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    return struct.pack(">bh", T_STRING, field_id) + struct.pack(">i", size) + value


def i32_field(field_id: int, value: int) -> bytes:
    return struct.pack(">bh", T_I32, field_id) + struct.pack(">i", value)


def encode(name: str, args: Any, *, compact: bool = False, seqid: int = 1) -> bytes:
    """A well-formed CALL of `name` with thriftpy2's args struct `args`."""
    buffer = TMemoryBuffer()
    protocol: Any = TCompactProtocol(buffer) if compact else TBinaryProtocol(buffer)
    protocol.write_message_begin(name, TMessageType.CALL, seqid)
    args.write(protocol)
    protocol.write_message_end()
    return bytes(buffer.getvalue())


def framed(message: bytes) -> bytes:
    return struct.pack(">i", len(message)) + message


def reply_of(data: bytes, name: str, *, compact: bool = False) -> tuple[int, Any]:
    """(message type, decoded result or TApplicationException) of one reply of method `name`."""
    from thriftpy2.thrift import TApplicationException

    protocol: Any = (TCompactProtocol if compact else TBinaryProtocol)(TMemoryBuffer(data))
    _, kind, _ = protocol.read_message_begin()
    if kind == TMessageType.EXCEPTION:
        exc = TApplicationException()
        exc.read(protocol)
        return kind, exc
    result = getattr(Hbase, f"{name}_result")()
    result.read(protocol)
    return kind, result


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=timeout)


def read_reply(sock: socket.socket, *, framed_reply: bool = False) -> bytes:
    """One reply: for framed, exactly one frame; for buffered, what arrives until a short pause."""
    if framed_reply:
        (size,) = struct.unpack(">i", recv_exactly(sock, 4))
        return recv_exactly(sock, size)
    data = sock.recv(65536)
    return data


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"the gateway closed the connection after {len(data)} of {size} bytes"
        data += chunk
    return data


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the gateway closes the connection (recv answers end of file, or a reset) within the
    socket's timeout, reading and dropping whatever it sends first."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


__all__ = [
    "binary_call",
    "closed_by_peer",
    "connect",
    "encode",
    "framed",
    "i32_field",
    "read_reply",
    "reply_of",
    "string_field",
]
