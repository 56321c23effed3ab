"""What a refusal's message may carry on the wire.

gRPC sends a status message in the `grpc-message` trailer, percent-encoded (a non-ASCII byte takes three),
and a client drops trailers past 16 KiB: a refusal quoting a huge table name would reach the caller as
"RESOURCE_EXHAUSTED: received metadata size exceeds hard limit" instead of its own message. Every daemon's
refusal goes through `clip`.
"""

from __future__ import annotations

#: UTF-8 bytes of a status message, at most: 9 KiB once percent-encoded in the worst case.
MAX_MESSAGE_BYTES = 3072


def clip(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """`message`, cut to at most `limit` UTF-8 bytes (on a character boundary) with a note of what was cut."""
    raw = message.encode("utf-8", "backslashreplace")
    if len(raw) <= limit:
        return message
    kept = raw[: limit - 64].decode("utf-8", "ignore")
    return f"{kept}... [message cut: {len(raw)} bytes in all]"
