"""The cluster's certificates (ground): a CA, node and client certificates with a role, and the gRPC
credentials every daemon and the SDK build from a certs directory.

A certs directory (mode 0700) holds, in CockroachDB's layout:

    ca.crt                      the cluster CA (self-signed); every process trusts it and nothing else
    ca.key                      its key: only `regent certs create-*` needs it (or keep it apart: --ca-key)
    node.crt, node.key          a daemon's certificate (role node), for the hosts it serves on
    client.NAME.crt, .key       a client's certificate (role admin or client)

Every certificate carries, as subject-alternative-name URIs, its role (`regent:role:node|admin|client`) and
the cluster it belongs to (`regent:cluster:<id>`, the id made with the CA). A peer's identity is read from
its certificate on each call (`identity_of`), so the role cannot be claimed, only proven. Keys are ECDSA
P-256: fast to make (a fresh `regent local` makes four) and to handshake with.

This module imports no gRPC at load time: `regent local`'s supervisor uses it and must never initialise gRPC
(see regent.local); the credential functions import it when called.
"""

from __future__ import annotations

import datetime
import functools
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

ROLES = ("node", "admin", "client")
ROLE_URI = "regent:role:"
CLUSTER_URI = "regent:cluster:"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
NODE = "node"
#: The environment variable every process reads when --certs-dir / certs_dir= is not given.
CERTS_ENV = "REGENT_CERTS_DIR"
#: A certificate that expires within this many days is warned about when a process starts.
EXPIRY_WARNING_DAYS = 30


class CertError(Exception):
    """A certificate cannot be made, found or used: the message is one line saying what to do."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a certificate says its holder is: a role, the host names/IPs or client name, the cluster."""

    role: str
    names: tuple[str, ...]
    cluster: str
    subject: str

    def __str__(self) -> str:
        return f"{self.subject} (role {self.role or 'none'})"


@dataclass(frozen=True, slots=True)
class CertInfo:
    """One certificate file of a certs directory, as `regent certs list` shows it."""

    file: str
    role: str
    subject: str
    names: tuple[str, ...]
    cluster: str
    not_after: datetime.datetime

    def days_left(self, now: datetime.datetime | None = None) -> float:
        now = now or datetime.datetime.now(datetime.UTC)
        return (self.not_after - now).total_seconds() / 86400


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a process presents and trusts: the CA, its own key and certificate (PEM), and who it is."""

    certs_dir: Path
    ca: bytes
    key: bytes
    cert: bytes
    identity: Identity


# ---- reading certificates ----


def cluster_of(cert: x509.Certificate) -> str:
    for uri in _uris(cert):
        if uri.startswith(CLUSTER_URI):
            return uri[len(CLUSTER_URI) :]
    return ""


def _uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def _identity(cert: x509.Certificate) -> Identity:
    uris = _uris(cert)
    role = next((u[len(ROLE_URI) :] for u in uris if u.startswith(ROLE_URI)), "")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(cn[0].value) if cn else cert.subject.rfc4514_string()
    if role in ("admin", "client"):
        names = [subject]
    return Identity(role if role in ROLES else "", tuple(names), cluster_of(cert), subject)


def info_of(path: Path) -> CertInfo:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertError(f"{path} is not a PEM certificate: {exc}") from None
    ident = _identity(cert)
    role = "ca" if path.name == CA_CERT else ident.role
    return CertInfo(path.name, role, ident.subject, ident.names, ident.cluster, cert.not_valid_after_utc)


def list_certs(certs_dir: Path) -> list[CertInfo]:
    """Every certificate of the certs directory: the CA first, then the node, then the clients."""
    if not certs_dir.is_dir():
        raise CertError(f"no certs directory at {certs_dir}: make one with `regent certs create-ca`")
    order = {CA_CERT: 0, f"{NODE}.crt": 1}
    files = sorted(certs_dir.glob("*.crt"), key=lambda p: (order.get(p.name, 2), p.name))
    return [info_of(p) for p in files]


def fingerprint(pem: bytes) -> str:
    """SHA-256 of a certificate, hex: how an operator compares two CAs."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def load(certs_dir: Path | str, who: str = NODE) -> Credentials:
    """The credentials of `who` ("node", or a client name: client.NAME.crt) in `certs_dir`; CertError
    says what is missing and how to make it."""
    certs_dir = Path(certs_dir).expanduser().absolute()
    stem = NODE if who == NODE else f"client.{who}"
    paths = [certs_dir / CA_CERT, certs_dir / f"{stem}.crt", certs_dir / f"{stem}.key"]
    missing = [p.name for p in paths if not p.exists()]
    if not certs_dir.is_dir():
        raise CertError(f"the certs directory {certs_dir} does not exist (make one with `regent certs`)")
    if missing:
        if who == NODE:
            how = f"regent certs create-node HOST... --certs-dir {certs_dir}"
        else:
            how = f"regent certs create-client {who} --role admin|client --certs-dir {certs_dir}"
        clients = sorted(p.name[7:-4] for p in certs_dir.glob("client.*.crt"))
        there = f" (clients there: {', '.join(clients)})" if clients and who != NODE else ""
        raise CertError(f"{certs_dir} has no {', '.join(missing)}{there}: make it with `{how}`")
    try:
        ca, cert, key = (p.read_bytes() for p in paths)
        parsed = x509.load_pem_x509_certificate(cert)
    except (OSError, ValueError) as exc:
        raise CertError(f"cannot read the certificates in {certs_dir}: {exc}") from None
    return Credentials(certs_dir, ca, key, cert, _identity(parsed))


def expiring(certs_dir: Path, days: float = EXPIRY_WARNING_DAYS) -> list[CertInfo]:
    """The certificates of `certs_dir` that expire within `days` (or have expired)."""
    return [c for c in list_certs(certs_dir) if c.days_left() < days]


def warn_expiring(creds: Credentials, log: Any) -> None:
    """Log one warning per certificate of the certs dir that expires within EXPIRY_WARNING_DAYS."""
    for cert in expiring(creds.certs_dir):
        log.warning(
            "certificate_expires_soon",
            file=str(creds.certs_dir / cert.file),
            not_after=cert.not_after.isoformat(),
            days_left=round(cert.days_left(), 1),
        )


# ---- peers ----


@functools.lru_cache(maxsize=256)
def _identity_of_pem(pem: bytes) -> Identity | None:
    try:
        return _identity(x509.load_pem_x509_certificate(pem))
    except ValueError:
        return None


def identity_of(auth_context: dict[str, list[bytes]]) -> Identity | None:
    """The peer's identity from a gRPC call's auth_context(), None if it presented no certificate."""
    pems = auth_context.get("x509_pem_cert") or []
    return _identity_of_pem(pems[0]) if pems else None


def probe(address: str, timeout: float = 1.0) -> tuple[str, x509.Certificate | None]:
    """What speaks at host:port: ("tls", its certificate), ("plain", None) for a server that answers but
    not in TLS, or ("unreachable", None). The certificate is not checked: this is for diagnosis only
    (which cluster a refusing master belongs to, whether a port wants TLS)."""
    import socket

    host, _, port = address.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except (OSError, ValueError):
        return "unreachable", None
    with sock:
        try:
            with context.wrap_socket(sock, server_hostname=host) as tls_sock:
                der = tls_sock.getpeercert(binary_form=True)
        except (ssl.SSLError, ConnectionError):
            return "plain", None
        except OSError:
            return "unreachable", None
    return "tls", x509.load_der_x509_certificate(der) if der else None


def mismatch(address: str, creds: Credentials | None, timeout: float = 1.0) -> str | None:
    """Why a connection to `address` cannot work whatever the retries, or None if nothing says so: it
    speaks plain text and we TLS, or the reverse, or its certificate is of another cluster."""
    kind, cert = probe(address, timeout)
    if creds is None:
        if kind == "tls":
            return (
                f"{address} requires mutual TLS and this client connects in plain text (insecure): give "
                f"the cluster's certificates (certs_dir=DIR, --certs-dir DIR or ${CERTS_ENV})"
            )
        return None
    if kind == "plain":
        return (
            f"{address} speaks plain text (it was started with --insecure) and this process mutual TLS: "
            "start every process of a cluster the same way"
        )
    if kind == "tls" and cert is not None:
        theirs, ours = cluster_of(cert), ca_cluster(creds)
        if theirs != ours:
            return (
                f"{address} belongs to another cluster: its certificate is of cluster "
                f"{theirs or '(none: not a Regent certificate)'}, the certificates in {creds.certs_dir} "
                f"are of cluster {ours}"
            )
    return None


def ca_cluster(creds: Credentials) -> str:
    return cluster_of(x509.load_pem_x509_certificate(creds.ca))


# ---- gRPC credentials ----


def server_credentials(creds: Credentials) -> Any:
    """Server credentials that require a client certificate signed by the cluster CA."""
    import grpc

    return grpc.ssl_server_credentials(
        [(creds.key, creds.cert)], root_certificates=creds.ca, require_client_auth=True
    )


def channel_credentials(creds: Credentials) -> Any:
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=creds.ca, private_key=creds.key, certificate_chain=creds.cert
    )


__all__ = [
    "CERTS_ENV",
    "ROLES",
    "CertError",
    "CertInfo",
    "Credentials",
    "Identity",
    "identity_of",
    "list_certs",
    "load",
]
