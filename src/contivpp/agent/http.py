"""The agent's local HTTP endpoint: liveness, readiness and Prometheus metrics.

``/healthz`` answers while the event loop runs (the process is alive); ``/readyz`` only once
the agent can wire pods (VPP connected, node ID known, startup resync done), with the reasons
when it cannot, so a kubelet probe and a human both get an answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contivpp.agent.metrics import AgentMetrics

Readiness = Callable[[], list[str]]
"""Returns the reasons the agent is not ready; empty when ready."""


def make_app(metrics: AgentMetrics, not_ready: Readiness) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        reasons = not_ready()
        if reasons:
            return web.Response(status=503, text="not ready: " + "; ".join(reasons) + "\n")
        return web.Response(text="ready\n")

    async def metrics_view(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics_view),
        ]
    )
    return app


async def serve_http(
    host: str,
    port: int,
    metrics: AgentMetrics,
    not_ready: Readiness,
    started: asyncio.Event | None = None,
) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(make_app(metrics, not_ready), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
