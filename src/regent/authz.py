"""Who may call what (ground): a gRPC server interceptor that reads the caller's identity from its TLS
certificate on every call and checks it against the daemon's policy, before any handler runs.

A policy maps a full method name ("/regent.v1.Master/CreateTable") to a Rule: the roles allowed and, for
calls in which a RegionServer names itself, where in the request that name is (the certificate must be for
that host). A method the policy does not name is refused: a new RPC is closed until someone opens it.
Each daemon's policy is one table (master.access, regionserver.access).

A refusal is UNAUTHENTICATED (a certificate without a Regent role) or PERMISSION_DENIED (the wrong role, or
a node certificate for another host), with the error's name in "regent-error" as every Regent refusal, one
log line (at most one per method per second; the others are counted in the next line) and a count.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from regent import tls
from regent.status import clip
from regent.unary_interceptor import UnaryInterceptor

log = structlog.get_logger("authz")

ALL_ROLES = frozenset(tls.ROLES)
LOG_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class Rule:
    roles: frozenset[str]
    #: The host the request claims to come from (a RegionServer's own name), checked against the names of
    #: its node certificate.
    claimed_host: Callable[[Any], str] | None = None


def rule(*roles: str, claimed_host: Callable[[Any], str] | None = None) -> Rule:
    return Rule(frozenset(roles), claimed_host)


@dataclass(frozen=True, slots=True)
class Refusal:
    code: Any  # grpc.StatusCode
    name: str
    message: str


def check(policy: Mapping[str, Rule], method: str, peer: tls.Identity | None, request: Any) -> Refusal | None:
    """Why `peer` may not call `method` with `request`, or None if it may. Pure: the tests' table of
    calls and roles runs through it as well as through real daemons."""
    short = method.rsplit("/", 1)[-1]
    if peer is None or not peer.role:
        who = "no certificate" if peer is None else f"a certificate without a Regent role ({peer.subject})"
        return Refusal(
            grpc.StatusCode.UNAUTHENTICATED,
            "Unauthenticated",
            f"{short} needs a certificate of this cluster with a Regent role; the caller presented {who}",
        )
    found = policy.get(method)
    if found is None:
        return Refusal(
            grpc.StatusCode.PERMISSION_DENIED, "PermissionDenied", f"{short} is not open to any role"
        )
    if peer.role not in found.roles:
        needed = " or ".join(sorted(found.roles))
        return Refusal(
            grpc.StatusCode.PERMISSION_DENIED,
            "PermissionDenied",
            f"{short} needs role {needed}; the caller {peer.subject!r} has role {peer.role}",
        )
    if found.claimed_host is not None:
        host = found.claimed_host(request)
        if host not in peer.names:
            return Refusal(
                grpc.StatusCode.PERMISSION_DENIED,
                "PermissionDenied",
                f"{short} claims host {clip(repr(host), 200)} but the caller's node certificate is for "
                f"{', '.join(peer.names) or 'no host'}",
            )
    return None


class Authorizer(UnaryInterceptor):
    """The one place a daemon decides who may call what (see the module doc)."""

    def __init__(self, policy: Mapping[str, Rule]) -> None:
        super().__init__()
        self.policy = policy
        self.refusals: Counter[tuple[str, str]] = Counter()  # (method, error name) -> count
        self._logged_at: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def wrap(self, method: str, handler: Any) -> Any:
        inner = handler.unary_unary
        found = self.policy.get(method)
        open_to_all = found is not None and found.roles == ALL_ROLES and found.claimed_host is None

        async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            peer = tls.identity_of(context.auth_context())
            if not (open_to_all and peer is not None and peer.role):
                refusal = check(self.policy, method, peer, request)
                if refusal is not None:
                    self._count(method, refusal, context)
                    context.set_trailing_metadata((("regent-error", refusal.name),))
                    await context.abort(refusal.code, refusal.message)
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _count(self, method: str, refusal: Refusal, context: Any) -> None:
        self.refusals[(method, refusal.name)] += 1
        now = time.monotonic()
        if now - self._logged_at.get(method, -LOG_INTERVAL_S) < LOG_INTERVAL_S:
            self._unlogged[method] += 1
            return
        self._logged_at[method] = now
        log.warning(
            "call_refused",
            method=method,
            error=refusal.name,
            reason=refusal.message,
            peer=context.peer(),
            refused_total=sum(self.refusals.values()),
            not_logged_since_last=self._unlogged.pop(method, 0),
        )
