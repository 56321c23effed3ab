"""`regent certs` as a new user runs it: the files it makes, their modes, its output and exit codes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from regent import tls
from regent.certs import create_ca, create_client, create_node


def regent_certs(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regent.cli", "certs", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_certs_commands_make_a_ca_node_and_clients_with_private_keys(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    made = regent_certs("create-ca", "--certs-dir", certs)
    assert made.returncode == 0, made.stderr
    assert "ca.crt: role ca, cluster " in made.stdout
    node = regent_certs("create-node", "127.0.0.1", "localhost", "--certs-dir", certs)
    assert node.returncode == 0 and "role node for localhost, 127.0.0.1" in node.stdout, node.stderr
    for name, role in (("alice", "admin"), ("app", "client")):
        client = regent_certs("create-client", name, "--role", role, "--certs-dir", certs)
        assert client.returncode == 0 and f"role {role}" in client.stdout, client.stderr
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in certs.iterdir()}
    assert files == {
        "ca.crt": 0o644,
        "ca.key": 0o600,
        "node.crt": 0o644,
        "node.key": 0o600,
        "client.alice.crt": 0o644,
        "client.alice.key": 0o600,
        "client.app.crt": 0o644,
        "client.app.key": 0o600,
    }
    listed = regent_certs("list", "--certs-dir", certs, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["certificates"]
    assert [(r["file"], r["role"]) for r in rows] == [
        ("ca.crt", "ca"),
        ("node.crt", "node"),
        ("client.alice.crt", "admin"),
        ("client.app.crt", "client"),
    ]
    assert len({r["cluster"] for r in rows}) == 1 and all(r["days_left"] > 800 for r in rows[1:])
    table = regent_certs("list", "--certs-dir", certs)
    assert table.stdout.splitlines()[0].split() == ["FILE", "ROLE", "EXPIRES", "DAYS", "NAMES"]
    assert "localhost, 127.0.0.1" in table.stdout


def test_certs_refuse_what_would_break_or_overwrite_and_say_what_to_do(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    no_ca = regent_certs("create-node", "127.0.0.1", "--certs-dir", certs)
    assert no_ca.returncode == 1 and "regent certs create-ca" in no_ca.stderr
    assert regent_certs("create-ca", "--certs-dir", certs).returncode == 0
    again = regent_certs("create-ca", "--certs-dir", certs)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    bad_name = regent_certs("create-client", "a b", "--role", "admin", "--certs-dir", certs)
    assert bad_name.returncode == 1 and "client name" in bad_name.stderr
    bad_role = regent_certs("create-client", "x", "--role", "root", "--certs-dir", certs)
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    assert regent_certs("create-client", "x", "--role", "admin", "--certs-dir", certs).returncode == 0
    twice = regent_certs("create-client", "x", "--role", "client", "--certs-dir", certs)
    assert twice.returncode == 1 and "exists" in twice.stderr
    replaced = regent_certs("create-client", "x", "--role", "client", "--overwrite", "--certs-dir", certs)
    assert replaced.returncode == 0 and "role client" in replaced.stdout


def test_a_certificate_expiring_within_30_days_is_flagged(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    create_ca(certs)
    create_client(certs, "short", "client", days=10)
    create_node(certs, ["127.0.0.1"])
    assert [c.file for c in tls.expiring(certs)] == ["client.short.crt"]
    assert "(expires soon)" in regent_certs("list", "--certs-dir", certs).stdout


def test_credentials_name_what_is_missing(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    create_ca(certs)
    create_client(certs, "app", "client")
    try:
        tls.load(certs, "bob")
    except tls.CertError as exc:
        assert "client.bob.crt" in str(exc) and "clients there: app" in str(exc)
    else:
        raise AssertionError("loading a missing client certificate must fail")
    assert tls.load(certs, "app").identity.role == "client"
