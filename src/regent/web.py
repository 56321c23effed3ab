"""Each daemon's HTTP side (ground): an aiohttp server on the daemon's event loop, its templates and the
pages every daemon has: /metrics, /stacks, /logs, /status.json.

Loopback by default (`--http-host` widens it); plain HTTP, read-only (docs/security.md says why). Bad input
gets a short plain-text error with the status that says what is wrong (404 unknown path, 400 malformed
parameter, 414 query string too long); a handler that fails answers 500 and logs one line, and the daemon's
gRPC service is never involved. Pages are rendered with jinja2 (autoescaping on: every value is escaped,
region keys are bytes and shown as HBase's toStringBinary does).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jinja2
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, disable_created_metrics, generate_latest

from regent import recent_logs, stacks

log = structlog.get_logger("http")

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double every counter's lines for little use

MAX_QUERY = 2048  # characters of a query string
MAX_FIELD = 8190  # aiohttp's own limit on a request line and each header

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpSide:
    """An aiohttp application of one daemon, started and stopped with it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: a free port); return the bound port. Raises OSError if it cannot."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if not is_loopback(host):
            log.warning(
                "http_not_loopback",
                host=host,
                hint="the status pages have no TLS nor authentication: keep them behind a proxy that has "
                "(docs/security.md)",
            )
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def application(
    registry: CollectorRegistry,
    status: Callable[[], dict[str, Any]],
    routes: Iterable[web.RouteDef] = (),
) -> web.Application:
    """The app with the common pages and `routes`; `status` builds /status.json's document."""
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def stack_page(request: web.Request) -> web.Response:
        return web.Response(text=stacks.dump())

    async def status_json(request: web.Request) -> web.Response:
        return json_response(status())

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(status=204)  # no icon; browsers ask for one on plain-text pages (/stacks)

    app.add_routes(
        [
            web.get("/metrics", metrics),
            web.get("/stacks", stack_page),
            web.get("/status.json", status_json),
            web.get("/favicon.ico", favicon),
            *routes,
        ]
    )
    return app


def logs_document(request: web.Request) -> dict[str, Any]:
    """The /logs page's lines: `limit` (default 500) and `level` parameters."""
    limit = query_int(request, "limit", 500, 1, recent_logs.RECENT_LINES)
    level = request.query.get("level", "")
    if level and level not in ("debug", "info", "warning", "error"):
        raise web.HTTPBadRequest(text=f"level must be debug, info, warning or error, got {level[:40]!r}\n")
    return {
        "lines": [_jsonable(line) for line in recent_logs.recent(limit, level)],
        "limit": limit,
        "level": level,
    }


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if len(request.query_string) > MAX_QUERY:
        raise web.HTTPRequestURITooLong(
            text=f"the query string has {len(request.query_string)} characters, at most {MAX_QUERY} are "
            "accepted\n"
        )
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.match_info.http_exception is None:
            raise  # a page's own answer (no such region)
        raise web.HTTPNotFound(
            text=f"no page at {_short(request.path)}: see / for the pages of this daemon\n"
        ) from None
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("http_handler_failed", path=_short(request.path))
        raise web.HTTPInternalServerError(text=f"this page failed: {type(exc).__name__}: {exc}\n") from None


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in [low, high]; 400 with a clear message otherwise."""
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,19}", raw):
        raise web.HTTPBadRequest(text=f"{name} must be a whole number, got {_short(raw)!r}\n")
    value = int(raw)
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name} must be between {low} and {high}, got {value}\n")
    return value


def json_response(document: Any) -> web.Response:
    return web.Response(text=json.dumps(document, indent=1, default=str), content_type="application/json")


def templates(package: str) -> jinja2.Environment:
    """The jinja2 environment of a daemon's pages: its package's templates/, then the shared ones."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.PackageLoader(package, "templates"), jinja2.PackageLoader("regent", "templates")]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["key"] = key_text
    env.filters["when"] = when
    env.filters["stamp"] = stamp
    env.filters["age"] = age
    return env


def render(env: jinja2.Environment, name: str, **context: Any) -> web.Response:
    page = env.get_template(name).render(now=when(time.time() * 1000), **context)
    return web.Response(text=page, content_type="text/html")


def key_text(key: bytes) -> str:
    """A row key as HBase's Bytes.toStringBinary shows it: printable ASCII as is, other bytes as \\xNN."""
    out = []
    for byte in key:
        if 32 <= byte < 127 and byte != 92:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02X}")
    return "".join(out)


def parse_key(text: str) -> bytes:
    """The inverse of key_text: \\xNN escapes become bytes, everything else is UTF-8. ValueError if bad."""
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1 : i + 2] not in ("x", "X") or not re.fullmatch(
                r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]
            ):
                raise ValueError(f"bad escape at character {i}: write a byte as \\xNN (two hex digits)")
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += text[i].encode()
            i += 1
    return bytes(out)


def when(ms: float) -> str:
    if not ms:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def stamp(ms: float) -> str:
    """A wall-clock time to the millisecond (a region's story)."""
    if not ms:
        return "-"
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def age(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:80] + "..."


def _jsonable(line: dict[str, Any]) -> dict[str, Any]:
    return {
        str(k): v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in line.items()
    }
