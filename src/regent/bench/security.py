"""How the benches' daemons talk: mutual TLS by default, as a cluster does, with a CA and certificates made
once per bench run in a temporary directory; plain text with `regent bench ... --insecure`, to compare."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from regent import certs, tls
from regent.transport import INSECURE, Transport

_state: dict[str, Any] = {"insecure": False, "certs_dir": None}


def use_insecure(insecure: bool) -> None:
    _state["insecure"] = insecure


def use_certs_dir(path: Path) -> None:
    """Use the certificates another process of this run made (a bench's client processes)."""
    _state["certs_dir"] = path


def insecure() -> bool:
    return bool(_state["insecure"])


def certs_dir() -> Path:
    """The run's certs directory, made on first use and removed at exit."""
    if _state["certs_dir"] is None:
        root = Path(tempfile.mkdtemp(prefix="regent-bench-certs-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        certs.ensure_local(root / "certs", ["127.0.0.1", "localhost"])
        _state["certs_dir"] = root / "certs"
    path: Path = _state["certs_dir"]
    return path


def daemon_args() -> list[str]:
    return ["--insecure"] if insecure() else ["--certs-dir", str(certs_dir())]


def transport(who: str = "admin") -> Transport:
    return INSECURE if insecure() else Transport(tls.load(certs_dir(), who))


def connect_options() -> dict[str, Any]:
    """regent.connect()'s security options for the bench's own client."""
    return {"insecure": True} if insecure() else {"certs_dir": str(certs_dir())}
