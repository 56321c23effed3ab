"""Generated protobuf and gRPC code of protos/ (regenerate with `make protos`; never edit by hand).

Importing this package fails at once when protobuf is not using its upb backend: the pure-Python backend is
25-180x slower, which would turn a seconds-long assignment of a million regions into many minutes.
"""

from google.protobuf.internal import api_implementation

_backend = api_implementation.Type()
if _backend != "upb":
    raise ImportError(
        f"Regent needs protobuf's upb backend, but protobuf is using {_backend!r} "
        "(is PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION set, or is protobuf older than 4.21?): "
        "unset that variable or install protobuf>=7.35"
    )
