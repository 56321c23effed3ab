"""`regent certs`: make the cluster CA and its node and client certificates (the face of regent.tls).

Exit codes: 0 done; 1 refused (a file exists, no CA, bad name: the message says what to do); 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from regent import certs, tls

EXAMPLES = """examples:
  regent certs create-ca --certs-dir certs
  regent certs create-node 127.0.0.1 localhost node1.example.com --certs-dir certs
  regent certs create-client alice --role admin --certs-dir certs
  regent certs create-client app --role client --certs-dir certs
  regent certs list --certs-dir certs
then: regent master --certs-dir certs ...; regent.connect("host:16000", certs_dir="certs", user="alice")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    commands = {
        "create-ca": "make a new cluster CA (and so a new cluster identity)",
        "create-node": "make node.crt for the hosts this machine's daemons listen on",
        "create-client": "make client.NAME.crt with role admin or client",
        "list": "list the certificates, their roles and expiry dates",
    }
    for name, help_text in commands.items():
        command = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES)
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        command.add_argument(
            "--certs-dir",
            type=Path,
            default=os.environ.get(tls.CERTS_ENV),
            required=not os.environ.get(tls.CERTS_ENV),
            help=f"the certs directory (default ${tls.CERTS_ENV})",
        )
        if name == "list":
            command.add_argument("--json", action="store_true", help="print one JSON document")
            continue
        command.add_argument(
            "--ca-key",
            type=Path,
            help="the CA key, if it is kept outside the certs dir (default CERTS_DIR/ca.key)",
        )
        command.add_argument("--overwrite", action="store_true", help="replace existing files")
        command.add_argument(
            "--days",
            type=int,
            default=certs.CA_DAYS if name == "create-ca" else certs.LEAF_DAYS,
            help="validity in days (default %(default)s)",
        )
        if name == "create-node":
            command.add_argument("hosts", nargs="+", metavar="HOST", help="host names and IPs")
        if name == "create-client":
            command.add_argument("name", help="the client's name (the file is client.NAME.crt)")
            command.add_argument("--role", required=True, choices=["admin", "client"])


def _describe(cert: tls.CertInfo) -> str:
    names = f" for {', '.join(cert.names)}" if cert.names and cert.role == "node" else ""
    return f"{cert.file}: role {cert.role}{names}, cluster {cert.cluster}, expires {cert.not_after:%Y-%m-%d}"


def run(args: argparse.Namespace) -> int:
    """Carry out one `regent certs` command; print what was made (stdout) or why not (stderr)."""
    try:
        if args.certs_command == "list":
            return _list(args)
        if args.days <= 0:
            raise tls.CertError(f"--days must be positive, got {args.days}")
        options = {"days": args.days, "overwrite": args.overwrite, "ca_key": args.ca_key}
        if args.certs_command == "create-ca":
            made = certs.create_ca(args.certs_dir, **options)
        elif args.certs_command == "create-node":
            made = certs.create_node(args.certs_dir, args.hosts, **options)
        else:
            made = certs.create_client(args.certs_dir, args.name, args.role, **options)
    except tls.CertError as exc:
        print(f"regent certs: error: {exc}", file=sys.stderr)
        return 1
    print(f"made {Path(args.certs_dir) / made.file}: {_describe(made)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    found = tls.list_certs(Path(args.certs_dir))
    if args.json:
        rows = [
            {
                "file": c.file,
                "role": c.role,
                "subject": c.subject,
                "names": list(c.names),
                "cluster": c.cluster,
                "not_after": c.not_after.isoformat(),
                "days_left": round(c.days_left(), 1),
            }
            for c in found
        ]
        print(json.dumps({"certs_dir": str(args.certs_dir), "certificates": rows}))
        return 0
    if not found:
        print(f"no certificates in {args.certs_dir}: start with `regent certs create-ca`", file=sys.stderr)
        return 0
    width = max(len(c.file) for c in found)
    print(f"{'FILE':<{width}}  {'ROLE':<6}  {'EXPIRES':<10}  {'DAYS':>5}  NAMES")
    for c in found:
        soon = "  (expires soon)" if c.days_left() < tls.EXPIRY_WARNING_DAYS else ""
        print(
            f"{c.file:<{width}}  {c.role:<6}  {c.not_after:%Y-%m-%d}  {int(c.days_left()):>5}  "
            f"{', '.join(c.names) or '-'}{soon}"
        )
    clusters = {c.cluster for c in found}
    print(f"cluster {', '.join(sorted(clusters))}")
    return 0
