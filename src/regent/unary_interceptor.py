"""A gRPC aio server interceptor that wraps each unary method's handler once (ground): the base of the
metrics (regent.rpc_metrics) and authorisation (regent.authz) interceptors.

A method's handler is the same on every call (the services are registered before the server starts), so
it is wrapped on the method's first call and handed out from the cache afterwards, without asking the
inner interceptors again. Streams (health's Watch) and unknown methods are not wrapped nor cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc


class UnaryInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Subclasses say how to wrap one unary method's handler (`wrap`)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Any] = {}

    async def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        method = details.method
        wrapped = self._handlers.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self._handlers[method] = self.wrap(method, handler)
        return wrapped

    def wrap(self, method: str, handler: Any) -> Any:
        """The handler to serve `method` with, in place of `handler` (a unary-unary RpcMethodHandler)."""
        raise NotImplementedError
