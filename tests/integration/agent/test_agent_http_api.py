"""The agent's HTTP API on a running agent: simulator, etcd, two pods wired through the real
CNI binary. Each endpoint is asked what an operator would ask, and the answers are checked
against what the test did (pod names, addresses from the default plan, VPP's dumps)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from agent_harness import Node, Pod

from contivpp.model import keys
from contivpp.renderers.pods import tap_name


async def add_pod(node: Node, pods: list[Pod], name: str) -> Pod:
    pod = Pod(node, name)
    pods.append(pod)
    pod.create_netns()
    code, result = await pod.cni("ADD")
    assert code == 0, result
    return pod


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def test_every_endpoint_answers_about_the_running_node(node: Node, pods: list[Pod]) -> None:
    agent = await node.start_agent()
    assert agent.http_port
    base = f"http://127.0.0.1:{agent.http_port}"
    before_pods = time.time()
    web = await add_pod(node, pods, "web")
    db = await add_pod(node, pods, "db")
    web_tap, db_tap = tap_name(web.container_id), tap_name(db.container_id)

    async with aiohttp.ClientSession() as session:
        # /pods and /ipam: node-a has ID 1, so pods get 10.1.1.2 and .3 (round robin from .2)
        status, body = await get(session, f"{base}/pods")
        assert status == 200
        assert [(p["name"], p["ip"], p["vpp_interface"], p["vpp_interface_state"])
                for p in body["pods"]] == [
            ("db", "10.1.1.3", db_tap, "configured"), ("web", "10.1.1.2", web_tap, "configured")
        ]  # fmt: skip
        status, body = await get(session, f"{base}/ipam")
        assert (body["node_id"], body["pod_subnet"], body["pod_gateway"]) == (
            1, "10.1.1.0/24", "10.1.1.1")  # fmt: skip
        assert body["allocated"] == [
            {"ip": "10.1.1.2", "pod": "default/web"},
            {"ip": "10.1.1.3", "pod": "default/db"},
        ]

        # /scheduler/txn-history: the startup resync, then one transaction per pod
        status, body = await get(session, f"{base}/scheduler/txn-history")
        triggers = [t["trigger"] for t in body["transactions"]]
        assert any(t.endswith("ResyncRequested") for t in triggers)
        adds = [t for t in body["transactions"] if t["trigger"].endswith("CNIAdd")]
        assert len(adds) == 2
        created = {op["key"] for op in adds[0]["executed"] if op["op"] == "create"}
        assert str(keys.interface(web_tap)) in created
        status, body = await get(session, f"{base}/scheduler/txn-history?since={before_pods}")
        assert [t["trigger"].split()[-1] for t in body["transactions"]] == ["CNIAdd", "CNIAdd"]
        # a transaction's own "started", passed back as since, finds it again
        status, body = await get(
            session, f"{base}/scheduler/txn-history?since={adds[1]['started']}"
        )
        assert [t["seq"] for t in body["transactions"]] == [adds[1]["seq"]]
        seq = adds[1]["seq"]
        status, body = await get(session, f"{base}/scheduler/txn-history?seq={seq}")
        assert [t["seq"] for t in body["transactions"]] == [seq]
        status, text = await get(session, f"{base}/scheduler/txn-history?last=1&format=text")
        assert status == 200
        assert text.startswith(f"txn {seq}  nb-delta  ")
        assert f"  trigger: {adds[1]['trigger']}\n" in text
        assert f"create vpp/interface/{db_tap} -> configured" in text

        # /scheduler/dump: desired by prefix, and actual read back from the simulator
        status, body = await get(session, f"{base}/scheduler/dump?prefix=vpp/interface/tap-")
        assert sorted(body["values"]) == sorted(
            [f"vpp/interface/{web_tap}", f"vpp/interface/{db_tap}", "vpp/interface/tap-vpp2"]
        )
        status, body = await get(
            session, f"{base}/scheduler/dump?view=actual&prefix=vpp/interface/tap-"
        )
        assert status == 200 and body["errors"] == {}
        assert {f"vpp/interface/{web_tap}", f"vpp/interface/{db_tap}"} <= set(body["values"])

        # /scheduler/status: one key, and the node's summary
        key = f"vpp/interface/{web_tap}"
        status, body = await get(session, f"{base}/scheduler/status?key={key}")
        assert (status, body["key"], body["state"], body["error"]) == (200, key, "configured", None)
        status, body = await get(session, f"{base}/scheduler/status")
        assert body["not_configured"] == {} and body["counts"]["configured"] > 10

        # /scheduler/graph: DOT always; SVG needs Graphviz (not installed here: 501)
        status, dot = await get(session, f"{base}/scheduler/graph?format=dot")
        assert status == 200 and dot.startswith("digraph kvscheduler {")
        assert f'"vpp/interface/{web_tap}"' in dot
        async with session.get(f"{base}/scheduler/graph?format=svg") as resp:
            if resp.status == 200:
                assert resp.content_type == "image/svg+xml"
                assert "<svg" in await resp.text()
            else:
                assert resp.status == 501
                assert await resp.json() == {
                    "error": "format=svg needs Graphviz ('dot' is not installed); use format=dot"
                }

        # POST /scheduler/resync: a full resync through the bus, answered when handled
        async with session.post(f"{base}/scheduler/resync") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["transaction"]["kind"] == "full-resync"
        assert body["transaction"]["trigger"] == f"event {body['event_seq']} ResyncRequested"
        assert body["transaction"]["calls"] == 0  # nothing drifted
        status, body2 = await get(session, f"{base}/controller/event-history?last=1")
        assert [(e["seq"], e["type"], e["outcome"]) for e in body2["events"]] == [
            (body["event_seq"], "ResyncRequested", "ok")
        ]
        status, body = await get(session, f"{base}/controller/event-history")
        types = [e["type"] for e in body["events"]]
        assert types.count("CNIAdd") == 2 and types[0] == "NodeIDAllocated"

        # /trace: pod to pod on this node, by name, over the agent's own VPP connection
        status, body = await get(session, f"{base}/trace?from=default/web&to=default/db:80/tcp")
        assert status == 200, body
        assert body["format"] == "contivpp-trace/1"
        assert body["from"] == {"ip": "10.1.1.2", "pod": "default/web"}
        assert body["outcome"]["result"] == "delivered"
        assert body["outcome"]["interface"] == db_tap
        status, body = await get(session, f"{base}/trace?from=default/ghost&to=10.1.1.3")
        assert (status, body) == (
            400, {"error": "trace: source 'default/ghost': no such pod on this node"})  # fmt: skip

        # /policies: no policy yet, so no ACL on the pods' TAPs
        status, body = await get(session, f"{base}/policies")
        assert [(p["pod"], p["output_acls"], p["policies"]) for p in body["pods"]] == [
            ("default/db", [], []), ("default/web", [], [])]  # fmt: skip

        # /metrics: VPP call latency by message, values per state, pods
        status, text = await get(session, f"{base}/metrics")
        # three TAPs: the host interconnect (tap-vpp2) and the two pods
        assert 'contivpp_vpp_call_duration_seconds_count{message="tap_create_v3"} 3.0' in text
        assert "contivpp_local_pods 2.0" in text
        assert 'contivpp_scheduler_values{state="failed"} 0.0' in text
        assert 'contivpp_events_processed_total{type="CNIAdd"} 2.0' in text
