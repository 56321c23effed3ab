"""The options by which a tool reaches a cluster (`regent verify`, `regent chaos`): --master, --certs-dir,
--user, --insecure, as `regent admin` spells them, and the SDK connection and RegionServer transport they
give."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from regent.admin_cli import DEFAULT_MASTER, MASTER_ENV

if TYPE_CHECKING:
    from client.connection import Connection
    from regent.transport import Transport


def add_arguments(parser: argparse.ArgumentParser, *, master_default: str | None = "env") -> None:
    """--master (default $REGENT_MASTER, else 127.0.0.1:16000; with `master_default` None, no default:
    the command finds the masters itself, in a local cluster's state file), --certs-dir, --user,
    --insecure."""
    default: str | None
    if master_default == "env":
        default = os.environ.get(MASTER_ENV) or DEFAULT_MASTER
        said = f"default ${MASTER_ENV}, else {DEFAULT_MASTER}"
    else:
        default, said = master_default, "default: the masters the cluster's ROOTDIR/local.json lists"
    parser.add_argument(
        "--master", default=default, metavar="H:P[,H:P]", help=f"any master's address, or several ({said})"
    )
    parser.add_argument(
        "--certs-dir",
        default=None,
        metavar="DIR",
        help="the cluster's certificates: mutual TLS as client.USER.crt (default $REGENT_CERTS_DIR)",
    )
    parser.add_argument(
        "--user",
        default="admin",
        help="which client certificate of --certs-dir to present: client.USER.crt (default admin; the "
        "RegionServers answer GetOnlineRegions to admin only)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="plain text, for a cluster started with --insecure"
    )


def transport(args: argparse.Namespace) -> Transport:
    """The transport to the RegionServers (raises tls.CertError saying what is missing)."""
    from regent import transport as transport_

    return transport_.resolve(args.certs_dir, args.insecure, args.user, what="--certs-dir")


def connect(args: argparse.Namespace, master: str, timeout: float = 30.0) -> Connection:
    import regent

    return regent.connect(
        master, timeout=timeout, certs_dir=args.certs_dir, user=args.user, insecure=args.insecure
    )


__all__ = ["add_arguments", "connect", "transport"]
