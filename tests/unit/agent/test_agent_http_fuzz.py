"""Hypothesis on the agent's HTTP endpoint: any path, query string and method gets a plain
answer (the probes' own, 400, 404 or 405, 503 for what needs VPP), never a 500, and the probes
ignore query parameters."""

from __future__ import annotations

import asyncio
import tempfile
import urllib.parse
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contivpp.agent.http import make_app
from contivpp.agent.run import Agent
from contivpp.agent.settings import settings_from_mapping

segments = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
API = ["/scheduler/txn-history", "/scheduler/dump", "/scheduler/status", "/scheduler/graph",
       "/controller/event-history", "/ipam", "/pods", "/policies", "/trace"]  # fmt: skip
paths = st.sampled_from(["/healthz", "/readyz", "/metrics", "/", "/readyz/", *API]) | segments.map(
    lambda s: "/" + urllib.parse.quote(s, safe="")
)
queries = st.lists(st.tuples(segments, segments), max_size=4).map(urllib.parse.urlencode)
methods = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(methods, paths, queries), min_size=1, max_size=10), st.booleans())
def test_any_request_gets_a_plain_answer(requests: list[tuple[str, str, str]], ready: bool) -> None:
    async def run(work: Path) -> None:
        agent = Agent(
            settings_from_mapping({"nodeName": "n1", "stateDir": str(work), "vppSocket": "/none"})
        )
        if ready:
            agent.status.node_id = 1
            agent.status.vpp_connected = lambda: True
            agent.status.kube_synced = agent.status.startup_resync_done = True
        else:
            agent.status.node_id = 1
            agent.status.kube_synced = agent.status.startup_resync_done = True
        async with TestClient(TestServer(make_app(agent))) as client:
            for method, path, query in requests:
                resp = await client.request(method, f"{path}?{query}" if query else path)
                body = await resp.text()
                refused = resp.status == 503 and ((path == "/readyz" and not ready) or path in API)
                assert resp.status < 500 or refused, (method, path, query, resp.status, body)
                if method != "GET":
                    continue
                if path == "/healthz":
                    assert (resp.status, body) == (200, "ok\n")
                elif path == "/readyz":
                    expected = (200, "ready\n") if ready else (
                        503, "not ready: VPP not connected\n")  # fmt: skip
                    assert (resp.status, body) == expected
                elif path == "/metrics":
                    assert resp.status == 200 and "contivpp_local_pods" in body

    with tempfile.TemporaryDirectory() as work:
        asyncio.run(run(Path(work)))
