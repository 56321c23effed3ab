"""How a process talks gRPC (ground): mutual TLS with the cluster's certificates, or plain text when the
operator said --insecure. Every channel and listening port of every daemon and of the SDK is made here, so
that no connection can be left in plain text by accident.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from regent import tls
from regent.config import CHANNEL_OPTIONS


class InsecureRefused(tls.CertError):
    """Neither certificates nor --insecure were given: the process refuses to start in plain text."""


@dataclass(frozen=True, slots=True)
class Transport:
    """Plain text when `creds` is None (--insecure), else mutual TLS with `creds`."""

    creds: tls.Credentials | None

    @property
    def secure(self) -> bool:
        return self.creds is not None

    def aio_channel(self, address: str, options: Sequence[tuple[str, Any]] = CHANNEL_OPTIONS) -> Any:
        if self.creds is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, tls.channel_credentials(self.creds), options=options)

    def channel(self, address: str, options: Sequence[tuple[str, Any]] = CHANNEL_OPTIONS) -> Any:
        if self.creds is None:
            return grpc.insecure_channel(address, options=options)
        return grpc.secure_channel(address, tls.channel_credentials(self.creds), options=options)

    def add_port(self, server: Any, address: str) -> int:
        """Bind `address` on `server`: TLS that requires a client certificate of the cluster CA."""
        if self.creds is None:
            return int(server.add_insecure_port(address))
        return int(server.add_secure_port(address, tls.server_credentials(self.creds)))

    def describe(self) -> str:
        if self.creds is None:
            return "plain text (--insecure)"
        return f"mutual TLS as {self.creds.identity} from {self.creds.certs_dir}"


INSECURE = Transport(None)


def resolve(certs_dir: Path | str | None, insecure: bool, who: str = tls.NODE, *, what: str) -> Transport:
    """The transport a process was told to use: `--insecure`, else `certs_dir` (or $REGENT_CERTS_DIR).

    Neither is an error that says how to get certificates: no Regent process talks plain text unless the
    operator said so. `what` names the flag for the message ("--certs-dir" or "certs_dir=").
    """
    if insecure:
        return INSECURE
    chosen = certs_dir or os.environ.get(tls.CERTS_ENV)
    if not chosen:
        raise InsecureRefused(
            f"no certificates: give {what} DIR (or set ${tls.CERTS_ENV}) with the cluster's certificates "
            "(make them with `regent certs create-ca`, `create-node`, `create-client`; `regent local` "
            "makes its own), or run without TLS with --insecure / insecure=True"
        )
    return Transport(tls.load(chosen, who))


def announce_transport(transport: Transport, log: Any) -> None:
    """What every daemon logs at start about its transport: loudly when it is plain text, and each of its
    certificates that expires within tls.EXPIRY_WARNING_DAYS."""
    if transport.creds is None:
        log.warning(
            "running_insecure",
            warning="--insecure: no TLS, no authentication, no authorization: anyone who can reach this "
            "port may change the cluster. For development only.",
        )
        return
    log.info(
        "tls_enabled",
        identity=str(transport.creds.identity),
        cluster=transport.creds.identity.cluster,
        ca_fingerprint=tls.fingerprint(transport.creds.ca),
    )
    tls.warn_expiring(transport.creds, log)
