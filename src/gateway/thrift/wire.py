"""The socket under a Thrift connection, with the limits that keep one bad client from hurting the others.

thriftpy2's transports and protocols trust the bytes they read: a binary string or a frame announces its
length and they allocate that much and wait for it. So the gateway does not hand them the socket but a
`GuardedSocket`, which:

- counts the bytes of each message (`start_message()` resets the count) and fails the connection once one
  message passes `max_message_bytes`;
- in framed mode, reads every frame header as it goes by (`FrameSizes`, a small state machine over the
  byte stream) and fails a frame that announces more than `max_message_bytes`, or zero or fewer, before
  anything allocates it;
- waits as long as the client likes for a message to start (happybase keeps idle connections), but once a
  message has started gives each further read `message_timeout_s`, so a client that stalls mid-message
  (or vanishes without a FIN) frees its thread.

Any limit crossed raises WireError, a TTransportException: the server closes that connection only.
"""

from __future__ import annotations

import socket
import struct

from thriftpy2.transport import TTransportException

#: HBase's default largest frame (hbase.regionserver.thrift.framed.max_frame_size_in_mb is 2 MB) is too
#: small for batched puts of large cells; Regent's largest cell is 10 MB, so a message may be a bit more.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: How long a started message may pause between two reads.
DEFAULT_MESSAGE_TIMEOUT_S = 30.0
#: The most bytes one recv asks for.
RECV_BYTES = 65536
_HEADER = struct.Struct(">i")


class WireError(TTransportException):
    """A client's bytes broke a limit (oversized or malformed frame, oversized message, a stall)."""


class FrameSizes:
    """Follows the frame boundaries of a framed Thrift stream fed in arbitrary chunks, and refuses a
    frame header announcing a size outside 1..max_frame_bytes. Pure: no I/O."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._header = b""
        self._left = 0  # bytes of the current frame's body still to come

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left:
                step = min(self._left, len(view))
                self._left -= step
                view = view[step:]
                continue
            need = 4 - len(self._header)
            self._header += bytes(view[:need])
            view = view[need:]
            if len(self._header) == 4:
                (size,) = _HEADER.unpack(self._header)
                self._header = b""
                if size <= 0 or size > self.max_frame_bytes:
                    raise WireError(
                        TTransportException.UNKNOWN,
                        f"a frame of {size} bytes: frames are 1..{self.max_frame_bytes} bytes "
                        "(is the client using the framed transport?)",
                    )
                self._left = size


class GuardedSocket:
    """A thriftpy2 raw transport (read, write, flush, close) over a connected socket, with limits."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        framed: bool,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        message_timeout_s: float = DEFAULT_MESSAGE_TIMEOUT_S,
    ) -> None:
        self.sock = sock
        self.max_message_bytes = max_message_bytes
        self.message_timeout_s = message_timeout_s
        self.frames = FrameSizes(max_message_bytes) if framed else None
        # A message may run past the budget by what the transport read ahead of the next one.
        self._budget = max_message_bytes + RECV_BYTES
        self._used = 0
        self._waiting = True  # no byte of the current message yet: wait without a deadline
        sock.settimeout(None)

    def start_message(self) -> None:
        """A new message is next: reset the byte count; wait for its first byte as long as it takes."""
        self._used = 0
        if not self._waiting:
            self._waiting = True
            self.sock.settimeout(None)

    def is_open(self) -> bool:
        return self.sock.fileno() >= 0

    def open(self) -> None:
        pass

    def read(self, sz: int) -> bytes:
        try:
            data = self.sock.recv(min(max(sz, 1), RECV_BYTES))
        except TimeoutError:
            raise WireError(
                TTransportException.TIMED_OUT,
                f"the client sent part of a message and then nothing for {self.message_timeout_s:g}s",
            ) from None
        except OSError as exc:
            raise TTransportException(TTransportException.END_OF_FILE, f"socket error: {exc}") from None
        if not data:
            raise TTransportException(TTransportException.END_OF_FILE, "the client closed the connection")
        if self._waiting:
            self._waiting = False
            self.sock.settimeout(self.message_timeout_s)
        self._used += len(data)
        if self._used > self._budget:
            raise WireError(
                TTransportException.UNKNOWN,
                f"a message of more than {self.max_message_bytes} bytes (the gateway's --max-message-bytes)",
            )
        if self.frames is not None:
            self.frames.feed(data)
        return data

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise TTransportException(TTransportException.END_OF_FILE, f"socket error: {exc}") from None

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.sock.close()


__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MESSAGE_TIMEOUT_S",
    "FrameSizes",
    "GuardedSocket",
    "WireError",
]
