"""Making the cluster's certificates (ground, the logic behind `regent certs` and `regent local`): a CA with
a new cluster id, node certificates for the hosts a machine's daemons serve on, client certificates with a
role. regent.tls reads them and turns them into gRPC credentials; the layout and the SAN URIs that carry the
role and the cluster are described there.

Keys are ECDSA P-256: a key takes well under a millisecond to make, so a fresh `regent local` makes its four
certificates in about 10 ms. Like regent.tls, nothing here imports gRPC (`regent local`'s supervisor uses it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from regent.tls import (
    CA_CERT,
    CA_KEY,
    CLUSTER_URI,
    NODE,
    ROLE_URI,
    CertError,
    CertInfo,
    cluster_of,
    info_of,
)

CA_DAYS = 3650
LEAF_DAYS = 825
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Write a file with `mode` from the start (a key is never readable by others, even for an instant)."""
    if path.exists() and not overwrite:
        raise CertError(f"{path} exists: remove it first, or pass --overwrite to replace it")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def prepare_dir(certs_dir: Path) -> Path:
    """Create the certs directory (0700) if needed; refuse one that others may read."""
    certs_dir = certs_dir.expanduser().absolute()
    try:
        certs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CertError(f"cannot create the certs directory {certs_dir}: {exc.strerror}") from None
    if not certs_dir.is_dir():
        raise CertError(f"{certs_dir} is not a directory")
    os.chmod(certs_dir, 0o700)
    return certs_dir


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create_ca(
    certs_dir: Path, *, days: int = CA_DAYS, overwrite: bool = False, ca_key: Path | None = None
) -> CertInfo:
    """Make a new cluster CA (ca.crt, and ca.key in the certs dir or at `ca_key`) with a new cluster id."""
    certs_dir = prepare_dir(certs_dir)
    key_path = ca_key or certs_dir / CA_KEY
    for path in (certs_dir / CA_CERT, key_path):
        if path.exists() and not overwrite:
            raise CertError(f"{path} exists: this directory has a CA already (--overwrite replaces it)")
    cluster = uuid.uuid4().hex
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Regent"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Regent cluster CA {cluster[:8]}"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(CLUSTER_URI + cluster)]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    if key_path.parent != certs_dir:
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(key_path, _key_pem(key), 0o600, overwrite)
    _write(certs_dir / CA_CERT, _cert_pem(cert), 0o644, overwrite)
    return info_of(certs_dir / CA_CERT)


def _load_ca(certs_dir: Path, ca_key: Path | None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = certs_dir / CA_CERT, ca_key or certs_dir / CA_KEY
    if not cert_path.exists():
        raise CertError(f"no CA in {certs_dir}: run `regent certs create-ca --certs-dir {certs_dir}` first")
    if not key_path.exists():
        raise CertError(f"the CA key {key_path} is missing: give its path with --ca-key")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{key_path} is not an ECDSA key made by `regent certs create-ca`")
    if key.public_key() != cert.public_key():
        raise CertError(f"{key_path} is not the key of {cert_path}")
    return cert, key


def _host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _leaf(
    certs_dir: Path,
    stem: str,
    common_name: str,
    role: str,
    names: list[x509.GeneralName],
    *,
    days: int,
    overwrite: bool,
    ca_key: Path | None,
) -> CertInfo:
    certs_dir = prepare_dir(certs_dir)
    ca_cert, ca_private = _load_ca(certs_dir, ca_key)
    cluster = cluster_of(ca_cert)
    for suffix in (".crt", ".key"):
        if (certs_dir / f"{stem}{suffix}").exists() and not overwrite:
            raise CertError(f"{certs_dir / (stem + suffix)} exists: pass --overwrite to replace it")
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if role == "node":
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    now = _now()
    not_after = min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc)
    san = [
        *names,
        x509.UniformResourceIdentifier(ROLE_URI + role),
        x509.UniformResourceIdentifier(CLUSTER_URI + cluster),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Regent"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_private.public_key()), critical=False
        )
        .sign(ca_private, hashes.SHA256())
    )
    _write(certs_dir / f"{stem}.key", _key_pem(key), 0o600, overwrite)
    _write(certs_dir / f"{stem}.crt", _cert_pem(cert), 0o644, overwrite)
    return info_of(certs_dir / f"{stem}.crt")


def create_node(
    certs_dir: Path,
    hosts: list[str],
    *,
    days: int = LEAF_DAYS,
    overwrite: bool = False,
    ca_key: Path | None = None,
) -> CertInfo:
    """Make node.crt/node.key (role node) for `hosts`: the names and IPs the daemons of this host listen
    on and claim when they register (a RegionServer's --host must be one of them)."""
    if not hosts:
        raise CertError("create-node needs at least one HOST (a name or an IP the daemons listen on)")
    for host in hosts:
        if not host or any(c.isspace() for c in host) or "/" in host:
            raise CertError(f"{host!r} is not a host name or IP address")
    names = [_host_name(h) for h in dict.fromkeys(hosts)]
    return _leaf(certs_dir, NODE, hosts[0], "node", names, days=days, overwrite=overwrite, ca_key=ca_key)


def create_client(
    certs_dir: Path,
    name: str,
    role: str,
    *,
    days: int = LEAF_DAYS,
    overwrite: bool = False,
    ca_key: Path | None = None,
) -> CertInfo:
    """Make client.NAME.crt/.key with role admin (DDL and operator calls) or client (look-ups and data)."""
    if role not in ("admin", "client"):
        raise CertError(f"a client certificate's role is admin or client, got {role!r}")
    if not _NAME.match(name):
        raise CertError(f"a client name is 1-64 letters, digits, '_', '.', '-', got {name!r}")
    return _leaf(certs_dir, f"client.{name}", name, role, [], days=days, overwrite=overwrite, ca_key=ca_key)


def ensure_local(certs_dir: Path, hosts: list[str]) -> list[CertInfo]:
    """What `regent local` needs, made if missing: a CA, a node certificate for `hosts`, and clients
    `admin` (role admin), `app` (role client) and `thrift` (role admin: the Thrift gateway of `regent local`
    serves DDL too). Returns what was made (nothing when all was there)."""
    made = []
    if not (certs_dir / CA_CERT).exists():
        made.append(create_ca(certs_dir))
    if not (certs_dir / f"{NODE}.crt").exists():
        made.append(create_node(certs_dir, hosts))
    for name, role in (("admin", "admin"), ("app", "client"), ("thrift", "admin")):
        if not (certs_dir / f"client.{name}.crt").exists():
            made.append(create_client(certs_dir, name, role))
    return made


__all__ = ["CA_DAYS", "LEAF_DAYS", "create_ca", "create_client", "create_node", "ensure_local", "prepare_dir"]
