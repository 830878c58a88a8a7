"""The small HTTP toolkit the agent and the KSR share: probes, metrics, query parsing, errors.

Both components answer ``/healthz``, ``/readyz`` and ``/metrics`` the same way and must never
answer a bad request with a traceback; keeping that in one place is why this module exists.
Query parameters are parsed by name, so a wrong one is a 400 whose message names it, and an
error of ours raised by a handler becomes a JSON ``{"error": ...}`` with a fitting status.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import attrs
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from contivpp.errors import (
    ConfigError,
    ContivError,
    InputError,
    VPPConnectionError,
    VPPTimeoutError,
)

log = structlog.get_logger("contivpp.webapi")

Readiness = Callable[[], Awaitable[tuple[bool, str]]]
"""Returns (ready, the text to answer with)."""


class Unavailable(ContivError):
    """The component cannot answer this yet (not ready, not connected): HTTP 503."""


def probe_routes(readiness: Readiness, registry: CollectorRegistry) -> list[web.RouteDef]:
    """``/healthz`` (the loop runs), ``/readyz`` (200 or 503 with the reason), ``/metrics``."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        ready, text = await readiness()
        return web.Response(status=200 if ready else 503, text=text + "\n")

    async def metrics_view(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics_view),
    ]


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors of ours become JSON answers; anything else a logged 500 without a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except InputError as exc:
        return json_response({"error": str(exc)}, status=400)
    except (Unavailable, VPPConnectionError, VPPTimeoutError) as exc:
        return json_response({"error": str(exc)}, status=503)
    except ContivError as exc:
        return json_response({"error": str(exc)}, status=500)
    except Exception as exc:  # the server keeps serving; the log has the details
        log.exception("http_handler_failed", path=request.path, error=str(exc))
        return json_response({"error": f"internal error: {type(exc).__name__}"}, status=500)


def make_application(routes: list[web.RouteDef]) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app.add_routes(routes)
    return app


async def start_site(app: web.Application, host: str, port: int, setting: str) -> web.AppRunner:
    """Listen on ``host:port`` (0: any free port, see ``runner.addresses``); caller cleans up.

    A port that cannot be bound is a :class:`ConfigError` naming ``setting``.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{setting} {host}:{port}: {reason}") from exc
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port a started runner listens on (what port 0 became)."""
    address = runner.addresses[0]
    return int(address[1])


# ---- query parameters ----------------------------------------------------------------------


class Query:
    """The query string of one request, read by name; every mistake is an :class:`InputError`
    naming the parameter. Parameters a handler does not know are refused, so a typo
    (``?seqs=3``) is not silently ignored."""

    def __init__(self, request: web.Request, allowed: Collection[str]) -> None:
        self._params = request.query
        for name in self._params:
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise InputError(f"unknown query parameter {name!r} (known: {known})")
        for name in allowed:
            if len(self._params.getall(name, [])) > 1:
                raise InputError(f"query parameter {name!r} given more than once")

    def text(self, name: str, default: str = "") -> str:
        return self._params.get(name, default)

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        raw = self._params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            raise InputError(f"query parameter {name!r}: not an integer: {raw!r}") from None
        if value < minimum:
            raise InputError(f"query parameter {name!r}: must be at least {minimum}, got {value}")
        return value

    def timestamp(self, name: str) -> float | None:
        """Seconds since the Unix epoch (fractions allowed)."""
        raw = self._params.get(name)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise InputError(
                f"query parameter {name!r}: not a Unix time in seconds: {raw!r}"
            ) from None
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self._params.get(name, default)
        if raw not in choices:
            raise InputError(
                f"query parameter {name!r}: must be one of {', '.join(choices)}, got {raw!r}"
            )
        return raw


# ---- JSON ------------------------------------------------------------------------------------


def plain(value: object) -> Any:
    """A JSON-able rendering of our values (attrs classes, enums, mappings, tuples, sets)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if attrs.has(type(value)):
        names = [f.name for f in attrs.fields(type(value))]  # type: ignore[arg-type]
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, BaseException):
        return str(value)
    return str(value)


def dumps(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def json_response(data: object, *, status: int = 200) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json")
