"""`regent admin ...`: the operator's commands, one per Admin call, through the SDK to the active master.

    regent admin [--master H:P[,H:P]] [--json] COMMAND ...      (`regent admin COMMAND --help`: an example)

Tables for people, one JSON document on stdout with --json, a progress bar on stderr while a command waits
for its procedure (when stderr is a terminal, or with --progress), --no-wait to return at submission.
The options common to every command may come before or after it. Exit codes (EXIT_*): 0 done, 1 refused
by the cluster, 2 bad usage, 3 timed out waiting, 4 no master reachable; a failure is one line on stderr,
"regent: error: ...". docs/admin.md is the guide.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meta.types import ColumnFamily

if TYPE_CHECKING:  # the SDK (and gRPC) are imported when a command runs, not by every `regent` process
    from client.errors import RegentError

DEFAULT_MASTER = "127.0.0.1:16000"
MASTER_ENV = "REGENT_MASTER"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_UNREACHABLE = 4
EXIT_INCONSISTENT = 5

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  done
  {EXIT_REFUSED}  refused by the cluster (the error's name and message on stderr)
  {EXIT_USAGE}  bad usage (arguments the command or the SDK rejects)
  {EXIT_TIMEOUT}  timed out waiting for a procedure (it goes on in the master)
  {EXIT_UNREACHABLE}  no master reachable (--master, or ${MASTER_ENV})
  {EXIT_INCONSISTENT}  hbck, catalog-janitor-run: inconsistencies found (and, with --fix, not all repaired)"""

#: The options every command takes, before or after its name.
_COMMON = ("master", "timeout", "json", "progress", "certs_dir", "user", "insecure")


def add_arguments(parser: argparse.ArgumentParser, positive: Callable[[str], int]) -> None:
    """The options and subcommands of `regent admin`."""
    from regent import admin_commands

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = "Operator commands against the active master, one per Admin SDK call."
    parser.epilog = EXIT_CODES
    _common_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, defaults=False)
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    for command in admin_commands.COMMANDS:
        command_parser = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help[0].upper() + command.help[1:] + ".",
            epilog=f"example:\n{_indent(command.example)}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
        )
        command.arguments(command_parser, positive)
        if command.waits:
            command_parser.add_argument(
                "--no-wait", action="store_true", help="return once submitted, printing the procedure id"
            )
            command_parser.add_argument(
                "--wait-timeout",
                type=seconds,
                default=600.0,
                metavar="S",
                help="how long to wait for the procedure (default 600)",
            )


def _common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The common options; on a command's own parser they default to nothing (argparse.SUPPRESS), so
    that a value given before the command name is kept when it is not repeated after it."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    master = os.environ.get(MASTER_ENV) or DEFAULT_MASTER
    parser.add_argument(
        "--master",
        default=default(master),
        metavar="H:P[,H:P]",
        help=f"any master's address, or several (default ${MASTER_ENV}, else {DEFAULT_MASTER})",
    )
    parser.add_argument(
        "--certs-dir",
        default=default(None),
        metavar="DIR",
        help="the cluster's certificates: mutual TLS as client.USER.crt (default $REGENT_CERTS_DIR)",
    )
    parser.add_argument(
        "--user",
        default=default("admin"),
        help="which client certificate of --certs-dir to present: client.USER.crt (default admin)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="plain text, for a cluster started with --insecure",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=default(30.0),
        metavar="S",
        help="deadline of each call to the master, retries included (default 30)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print one JSON document on stdout"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=default(None),
        help="progress bars on stderr while waiting (default: when stderr is a terminal)",
    )


def run(args: argparse.Namespace) -> None:
    """Carry out one admin command; on failure print one line on stderr and raise SystemExit(EXIT_*)."""
    import regent
    from client.errors import MasterUnavailable, ProcedureTimeout, RegentError
    from regent import admin_commands, admin_output

    command = admin_commands.BY_NAME[args.admin_command]
    if args.progress is None:
        args.progress = sys.stderr.isatty()
    try:
        with regent.connect(
            args.master,
            timeout=args.timeout,
            certs_dir=args.certs_dir,
            user=args.user,
            insecure=args.insecure,
        ) as connection:
            result = command.run(connection.admin(), args)
    except ValueError as exc:  # what the SDK checks before any call: the operator's arguments
        _fail(EXIT_USAGE, str(exc))
    except ProcedureTimeout as exc:
        follow = (
            "regent admin procedures" if exc.region_id else f"regent admin procedures {exc.proc_id} --wait"
        )
        _fail(EXIT_TIMEOUT, f"{exc}; follow it with `{follow}`")
    except MasterUnavailable as exc:
        _fail(EXIT_UNREACHABLE, f"{exc} (is a master running there? give --master H:P or ${MASTER_ENV})")
    except admin_commands.Refused as exc:
        _fail(EXIT_REFUSED, str(exc))
    except RegentError as exc:
        _fail(EXIT_REFUSED, _explain(exc, args))
    admin_output.emit(result, args.json)
    if result.exit_code:
        raise SystemExit(result.exit_code)


def _fail(code: int, message: str) -> None:
    print(f"regent: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(code)


def _explain(exc: RegentError, args: argparse.Namespace) -> str:
    """The error's name and message, and what to do next where there is one obvious thing."""
    from client.errors import RegentError, TableNotDisabled

    text = f"{type(exc).__name__}: {exc}" if type(exc) is not RegentError else str(exc)
    if isinstance(exc, TableNotDisabled) and args.admin_command in ("delete-table", "truncate-table"):
        text += f" (disable it first: regent admin disable-table {args.name})"
    return text


# ---- argument types ----


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_SECONDS_PER = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration(text: str) -> int | None:
    """A ttl: whole seconds, or with a unit (90s, 30m, 12h, 7d, 2w); "forever" is None."""
    if text.strip().lower() == "forever":
        return None
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 3600, 30m, 7d or forever, got {text!r}"
        )
    return int(match.group(1)) * _SECONDS_PER[match.group(2)]


_SIZE = re.compile(r"^(\d+)\s*([kmgtp]?)(?:i?b)?$")
_BYTES_PER = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def size(text: str) -> int:
    """A size in bytes: 1073741824, or with a binary unit (512MiB, 10G, 1TiB)."""
    match = _SIZE.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size such as 512MiB, 10GiB or 1073741824, got {text!r}")
    return int(match.group(1)) * _BYTES_PER[match.group(2)]


_FAMILY_KEYS = {"versions": "max_versions", "max_versions": "max_versions", "min_versions": "min_versions"}


def family(text: str) -> ColumnFamily:
    """A column family: NAME, or NAME:KEY=VALUE[,KEY=VALUE] with max_versions (or versions),
    min_versions and ttl (a duration), e.g. cf:versions=3,ttl=7d."""
    name, _, spec = text.partition(":")
    settings: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, equals, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not equals or (key not in _FAMILY_KEYS and key != "ttl"):
            raise argparse.ArgumentTypeError(
                f"family {name!r}: expected KEY=VALUE, KEY one of versions, min_versions, ttl; got {item!r}"
            )
        try:
            settings[_FAMILY_KEYS.get(key, key)] = duration(value) if key == "ttl" else int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"family {name!r}: {key} must be a whole number, got {value!r}"
            ) from None
    try:
        return ColumnFamily(name.strip(), **settings)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


__all__ = [
    "EXIT_INCONSISTENT",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "add_arguments",
    "duration",
    "family",
    "run",
    "seconds",
    "size",
]
