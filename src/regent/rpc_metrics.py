"""Every RPC method's count, errors by status code and latency (ground): a gRPC server interceptor.

It composes with the authorisation interceptor (regent.authz) rather than being part of it: put it first in
the server's interceptors, so that it sees every call, refused ones included (counted with their code).
The metric objects live in the daemon's registry, named regent_<daemon>_rpc_...; the method label is the
short "Service/Method" (a fixed set: the daemon's methods), the code label a gRPC status name.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from regent.unary_interceptor import UnaryInterceptor

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RpcMetrics(UnaryInterceptor):
    """Counts and times the unary calls of one gRPC server (see the module doc)."""

    def __init__(self, registry: CollectorRegistry, daemon: str) -> None:
        super().__init__()
        self.calls = Counter(
            f"regent_{daemon}_rpc_requests", "RPCs received, by method", ["method"], registry=registry
        )
        self.errors = Counter(
            f"regent_{daemon}_rpc_errors",
            "RPCs that ended with a status other than OK, by method and gRPC status code",
            ["method", "code"],
            registry=registry,
        )
        self.seconds = Histogram(
            f"regent_{daemon}_rpc_duration_seconds",
            "Time to handle an RPC, by method (refused calls included)",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def wrap(self, method: str, handler: Any) -> Any:
        inner = handler.unary_unary
        short = method.rsplit(".", 1)[-1]  # "/regent.v1.Master/Assign" -> "Master/Assign"
        calls, seconds, errors = self.calls.labels(short), self.seconds.labels(short), self.errors

        async def counted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            calls.inc()
            try:
                response = await inner(request, context)
            except BaseException:
                code = context.code()
                errors.labels(short, _name(code, grpc.StatusCode.UNKNOWN)).inc()
                raise
            finally:
                seconds.observe(time.perf_counter() - started)
            code = context.code()
            if code is not None and code is not grpc.StatusCode.OK and code != 0:
                errors.labels(short, _name(code, grpc.StatusCode.UNKNOWN)).inc()
            return response

        return grpc.unary_unary_rpc_method_handler(
            counted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _name(code: Any, default: grpc.StatusCode) -> str:
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    for status in grpc.StatusCode:  # grpc.aio may hand back the integer value
        if status.value[0] == code:
            return str(status.name)
    return str(default.name)
