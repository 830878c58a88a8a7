"""The agent's HTTP API on an agent that is built but not running (no VPP, no etcd): the
answers to bad parameters (status and message pinned), the views fed by events handled by the
controller alone, and the metric names Prometheus' conventions ask for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from contivpp import ipam
from contivpp.agent.http import make_app
from contivpp.agent.run import Agent
from contivpp.agent.settings import settings_from_mapping
from contivpp.config import AgentConfig
from contivpp.errors import IPAMError
from contivpp.events.types import CNIAdd, NodeIDAllocated


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Agent, TestClient]]:  # type: ignore[type-arg]
    agent = Agent(
        settings_from_mapping(
            {"nodeName": "n1", "stateDir": str(tmp_path), "vppSocket": str(tmp_path / "no.sock")}
        )
    )
    async with TestClient(TestServer(make_app(agent))) as client:
        yield agent, client


BAD = [
    ("/scheduler/txn-history?seq=abc", "query parameter 'seq': not an integer: 'abc'"),
    ("/scheduler/txn-history?seq=0", "query parameter 'seq': must be at least 1, got 0"),
    ("/scheduler/txn-history?last=-2", "query parameter 'last': must be at least 1, got -2"),
    ("/scheduler/txn-history?since=yesterday",
     "query parameter 'since': not a Unix time in seconds: 'yesterday'"),
    ("/scheduler/txn-history?until=nan",
     "query parameter 'until': not a Unix time in seconds: 'nan'"),
    ("/scheduler/txn-history?since=20&until=10",
     "query parameter 'until' (10) is before 'since' (20)"),
    ("/scheduler/txn-history?format=xml",
     "query parameter 'format': must be one of json, text, got 'xml'"),
    ("/scheduler/txn-history?seqs=1",
     "unknown query parameter 'seqs' (known: format, last, seq, since, until)"),
    ("/scheduler/txn-history?seq=1&seq=2", "query parameter 'seq' given more than once"),
    ("/scheduler/dump?view=sb", "query parameter 'view': must be one of desired, actual, got 'sb'"),
    ("/scheduler/status?key=", "query parameter 'key': must not be empty"),
    ("/scheduler/graph?format=png", "query parameter 'format': must be one of svg, dot, got 'png'"),
    ("/controller/event-history?last=x", "query parameter 'last': not an integer: 'x'"),
    ("/controller/event-history?format=text",
     "unknown query parameter 'format' (known: last, seq, since, until)"),
    ("/ipam?node=a", "unknown query parameter 'node' (known: none)"),
    ("/policies?pod=nobody", "query parameter 'pod': expected NAMESPACE/NAME, got 'nobody'"),
    ("/trace?from=10.1.1.2", "query parameter 'to' is required"),
    ("/trace?from=pod&to=10.1.1.3",
     "trace: source 'pod': neither an IPv4 address nor namespace/name"),
    ("/trace?from=10.1.1.2&to=10.1.1.3:99999",
     "trace: destination '10.1.1.3:99999': port 99999 is not in 0..65535"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "message"), BAD)
async def test_bad_parameters_get_400_naming_them(
    api: tuple[Agent, TestClient],  # type: ignore[type-arg]
    path: str,
    message: str,
) -> None:
    _, client = api
    resp = await client.get(path)
    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": message}


async def test_resync_before_startup_is_refused(api: tuple[Agent, TestClient]) -> None:  # type: ignore[type-arg]
    _, client = api
    resp = await client.post("/scheduler/resync")
    assert resp.status == 503
    assert await resp.json() == {"error": "the agent has not finished its startup resync yet"}
    resp = await client.post("/scheduler/resync?now=1")
    assert (resp.status, await resp.json()) == (
        400,
        {"error": "unknown query parameter 'now' (known: none)"},
    )


async def test_what_needs_vpp_says_it_is_not_connected(api: tuple[Agent, TestClient]) -> None:  # type: ignore[type-arg]
    _, client = api
    resp = await client.get("/scheduler/dump?view=actual")
    assert (resp.status, await resp.json()) == (503, {"error": "view=actual: VPP is not connected"})
    resp = await client.get("/trace?from=10.1.1.2&to=10.1.1.3")
    assert (resp.status, await resp.json()) == (503, {"error": "trace: VPP is not connected"})


async def test_status_of_an_unknown_key_is_404(api: tuple[Agent, TestClient]) -> None:  # type: ignore[type-arg]
    _, client = api
    resp = await client.get("/scheduler/status?key=vpp/interface/nope")
    assert resp.status == 404
    assert await resp.json() == {"error": "key 'vpp/interface/nope' is not known to the scheduler"}


async def test_event_history_ipam_and_pods_follow_the_handled_events(
    api: tuple[Agent, TestClient],  # type: ignore[type-arg]
) -> None:
    agent, client = api
    controller = agent.controller
    assert (await (await client.get("/controller/event-history")).json()) == {"events": []}
    plan = await (await client.get("/ipam")).json()
    assert plan == {"node": "n1", "node_id": None, "allocated": []}

    await controller.handle(1, NodeIDAllocated("n1", 3, ("192.168.16.3/24",)))
    await controller.handle(2, CNIAdd("c1", "/var/run/netns/x", "eth0", "default", "web"))
    await controller.handle(3, NodeIDAllocated("n1", 0, ()))  # rejected: no ID 0
    events = (await (await client.get("/controller/event-history")).json())["events"]
    assert [(e["seq"], e["type"], e["outcome"]) for e in events] == [
        (1, "NodeIDAllocated", "ok"),
        (2, "CNIAdd", "ok"),
        (3, "NodeIDAllocated", "rejected"),
    ]
    assert events[2]["error"] and events[0]["error"] is None
    assert all(e["duration_seconds"] >= 0 for e in events)
    last = (await (await client.get("/controller/event-history?last=1")).json())["events"]
    assert [e["seq"] for e in last] == [3]
    since = events[1]["started"]
    later = (await (await client.get(f"/controller/event-history?since={since}")).json())["events"]
    assert [e["seq"] for e in later] == [2, 3]
    one = (await (await client.get("/controller/event-history?seq=2")).json())["events"]
    assert [e["type"] for e in one] == ["CNIAdd"]

    # The default plan (docs/agent.md): node 3's pod subnet is 10.1.3.0/24, gateway .1.
    plan = await (await client.get("/ipam")).json()
    assert plan["node_id"] == 3
    assert plan["pod_subnet"] == "10.1.3.0/24"
    assert plan["pod_gateway"] == "10.1.3.1"
    assert plan["allocated"] == [{"ip": "10.1.3.2", "pod": "default/web"}]
    assert plan["free"] == 256 - 4 - 1  # network, gateway, NAT loopback, broadcast; one used

    pods = await (await client.get("/pods")).json()
    assert pods["node"] == "n1"
    assert [(p["namespace"], p["name"], p["ip"], p["vpp_interface"]) for p in pods["pods"]] == [
        ("default", "web", "10.1.3.2", "tap-c1")
    ]
    policies = await (await client.get("/policies?pod=default/web")).json()
    assert policies["pods"] == [
        {
            "pod": "default/web",
            "vpp_interface": "tap-c1",
            "input_acls": [],
            "output_acls": [],
            "policies": [],
            "reflected": False,
        }
    ]
    resp = await client.get("/policies?pod=default/none")
    assert (resp.status, await resp.json()) == (
        404,
        {"error": "pod default/none is not wired on this node"},
    )


async def test_controller_history_is_bounded(api: tuple[Agent, TestClient]) -> None:  # type: ignore[type-arg]
    agent, _ = api
    history = agent.controller.history
    assert history.maxlen == 1000
    for seq in range(1, 1006):
        await agent.controller.handle(seq, NodeIDAllocated("n1", 0, ()))
    assert len(history) == 1000 and history[0].seq == 6


async def test_metric_names_follow_prometheus_conventions(api: tuple[Agent, TestClient]) -> None:  # type: ignore[type-arg]
    agent, client = api
    agent.metrics.vpp_calls.labels("sw_interface_dump").observe(0.002)
    agent.metrics.events.labels("CNIAdd").inc()
    text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = {
        "contivpp_events_processed": "counter",
        "contivpp_events_rejected": "counter",
        "contivpp_apply_errors": "counter",
        "contivpp_vpp_call_errors": "counter",
        "contivpp_vpp_call_duration_seconds": "histogram",
        "contivpp_transaction_duration_seconds": "histogram",
        "contivpp_event_lag_seconds": "histogram",
        "contivpp_event_queue_depth": "gauge",
        "contivpp_local_pods": "gauge",
        "contivpp_services": "gauge",
        "contivpp_network_policies": "gauge",
        "contivpp_acls": "gauge",
        "contivpp_nat44_mappings": "gauge",
        "contivpp_scheduler_values": "gauge",
    }
    assert {name: families[name].type for name in expected} == expected
    for family in families.values():
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name.endswith(("_total", "_created")), sample.name
            else:
                assert not sample.name.endswith("_total"), sample.name
    assert 'contivpp_events_processed_total{type="CNIAdd"} 1.0' in text
    assert 'contivpp_vpp_call_duration_seconds_count{message="sw_interface_dump"} 1.0' in text
    states = {s.labels["state"] for s in families["contivpp_scheduler_values"].samples}
    assert states == {
        "pending", "configured", "obtained", "failed", "retrying", "invalid", "unimplemented",
        "missing",
    }  # fmt: skip


def test_a_rejected_event_is_an_ipam_error() -> None:
    """The rejected event above is rejected for the reason the test assumes."""
    with pytest.raises(IPAMError):
        ipam.check_node_id(AgentConfig.from_overrides("n1", {}, "").ipam, 0, "n1")


def fake_graphviz(directory: Path, script: str) -> None:
    """A ``dot`` on PATH standing in for Graphviz (not installed on these machines)."""
    dot = directory / "dot"
    dot.write_text("#!/bin/sh\n" + script)
    dot.chmod(0o755)


async def test_graph_is_svg_through_graphviz_when_installed(
    api: tuple[Agent, TestClient],  # type: ignore[type-arg]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, client = api
    # Echoes what it was given inside an <svg>: shows the DOT went in and -Tsvg was asked.
    fake_graphviz(tmp_path, 'echo "<svg><!-- $1 -->"; cat; echo "</svg>"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    resp = await client.get("/scheduler/graph")
    assert (resp.status, resp.content_type) == (200, "image/svg+xml")
    body = await resp.text()
    assert body.startswith("<svg><!-- -Tsvg -->\ndigraph kvscheduler {") and body.endswith(
        "</svg>\n"
    )
    resp = await client.get("/scheduler/graph?format=dot")
    assert (resp.status, resp.content_type) == (200, "text/vnd.graphviz")

    fake_graphviz(tmp_path, 'echo "syntax error in line 1" >&2; exit 1\n')
    resp = await client.get("/scheduler/graph?format=svg")
    assert (resp.status, await resp.json()) == (
        500,
        {"error": "Graphviz failed: syntax error in line 1"},
    )


async def test_graph_without_graphviz_is_dot_and_svg_is_501(
    api: tuple[Agent, TestClient],  # type: ignore[type-arg]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, client = api
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot there
    resp = await client.get("/scheduler/graph")
    assert (resp.status, resp.content_type) == (200, "text/vnd.graphviz")
    resp = await client.get("/scheduler/graph?format=svg")
    assert (resp.status, await resp.json()) == (
        501,
        {"error": "format=svg needs Graphviz ('dot' is not installed); use format=dot"},
    )
