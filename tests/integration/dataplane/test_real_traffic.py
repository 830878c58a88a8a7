"""Real packets between pods through the simulator's forwarder, checked against the trace.

One node as the agent tests build it (etcd, ``contivpp vppsim --linux-taps`` as its own
process, the agent, pods in real network namespaces wired by ``contivpp-cni``); Kubernetes
objects are written to etcd as the KSR writes them. The pods send real packets (``ping``, a
TCP / UDP probe run with ``ip netns exec``); what they see must be what ``contivpp trace``
says of the same flow on the same VPP: pod to pod, pod to a ClusterIP with an HTTP server in
the backend's netns, then a deny policy that makes the same request fail.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))

from agent_harness import Node, Pod

from contivpp.demo import (
    ping,
    pod_object,
    policy_object,
    probe,
    put_objects,
    service_objects,
    start_server,
)
from contivpp.vpp.client import VPPClient
from etcd_server import EtcdServer


async def eventually(check: object, what: str, timeout: float = 20.0) -> None:
    """Await ``check()`` (sync, run in a thread) until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.3)


CLI = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning"]
CLUSTER_IP = "10.96.0.10"
LABELS = {"web-0": {"app": "web"}, "web-1": {"app": "web"}, "client": {"app": "client"}}


class Cluster:
    def __init__(self, node: Node, etcd: EtcdServer) -> None:
        self.node = node
        self.etcd = (etcd.host, etcd.port)
        self.pods: dict[str, Pod] = {}
        self.ips: dict[str, str] = {}
        self.servers: list[subprocess.Popen[str]] = []

    async def add_pod(self, name: str) -> Pod:
        pod = Pod(self.node, name)
        pod.create_netns()
        self.pods[name] = pod
        code, result = await pod.cni("ADD")
        assert code == 0, result
        self.ips[name] = str(result["ips"][0]["address"]).split("/")[0]  # type: ignore[index]
        await put_objects(
            self.etcd, [pod_object(name, self.node.name, self.ips[name], LABELS[name])]
        )
        return pod

    def trace(self, source: str, destination: str) -> dict[str, object]:
        """``contivpp trace --json`` of the flow, as an operator would run it."""
        out = subprocess.run(
            [*CLI, "trace", "--vpp-socket", str(self.node.sim.socket), "--state-dir",
             str(self.node.work / "state"), "--node", self.node.name, "--json", "--reply",
             source, destination],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode in (0, 3), out.stderr
        result: dict[str, object] = json.loads(out.stdout)
        return result


@pytest.fixture
async def cluster(root_workdir: Path, etcd_server: EtcdServer) -> AsyncIterator[Cluster]:
    node = Node("node-a", root_workdir, etcd_server)
    node.sim.start()
    c = Cluster(node, etcd_server)
    try:
        await node.start_agent()
        for name in ("web-0", "web-1", "client"):
            await c.add_pod(name)
        for name in ("web-0", "web-1"):
            c.servers.append(start_server(c.pods[name].netns_name, name, 8080, 5353))
        yield c
    finally:
        for server in c.servers:
            server.terminate()
            server.wait(10)
            if server.stdout is not None:
                server.stdout.close()
        await node.stop_agent()
        node.sim.stop()
        for pod in c.pods.values():
            pod.delete_netns()


def outcome(trace: dict[str, object]) -> tuple[str, str]:
    result = trace["outcome"]
    assert isinstance(result, dict)
    return str(result["result"]), str(result["stage"])


async def test_pod_to_pod_ping_tcp_udp_and_the_gateway(cluster: Cluster) -> None:
    client = cluster.pods["client"].netns_name
    web0 = cluster.ips["web-0"]
    assert await asyncio.to_thread(ping, client, web0), "pod to pod ping failed"
    # VPP answers pings to its own address: the pod gateway (the model says "local").
    gateway = cluster.pods["client"].ip("route").split("via ")[1].split()[0]
    assert await asyncio.to_thread(ping, client, gateway), "ping to the gateway failed"
    # VPP listens on no TCP port of the gateway: it resets the connection (tcp4-reset).
    assert await asyncio.to_thread(probe, client, "tcp", gateway, 80) == "REFUSED"
    assert await asyncio.to_thread(probe, client, "tcp", web0, 8080) == "CONNECTED HTTP/1.0 200 OK"
    assert await asyncio.to_thread(probe, client, "udp", web0, 5353) == (f"CONNECTED web-0 {web0}")
    # Nobody listens on 9999: the kernel of web-0 refuses, through VPP and back.
    assert await asyncio.to_thread(probe, client, "tcp", web0, 9999) == "REFUSED"
    trace = cluster.trace("default/client", "default/web-0:8080")
    assert outcome(trace) == ("delivered", "deliver")
    reply = trace["reply"]
    assert isinstance(reply, dict) and reply["result"] == "delivered"


async def test_reject_routes_answer_with_icmp_unreachable(cluster: Cluster) -> None:
    """An icmp-prohibit route (``ip_null_dpo``: host administratively prohibited, code 10):
    the pod's ping gets the ICMP error from the gateway, its TCP connect fails at once with
    EHOSTUNREACH (113) instead of timing out."""
    path = {"sw_if_index": 0xFFFFFFFF, "table_id": 1, "weight": 1, "type": 6, "proto": 0,
            "nh": {"address": {"ip4": "0.0.0.0"}}}  # fmt: skip
    async with VPPClient(str(cluster.node.sim.socket), name="test") as vpp:
        route = {"table_id": 1, "prefix": "10.200.0.0/16", "paths": [path]}
        await vpp.call("ip_route_add_del", is_add=True, is_multipath=True, route=route)
    client = cluster.pods["client"].netns_name
    gateway = cluster.pods["client"].ip("route").split("via ")[1].split()[0]
    assert await asyncio.to_thread(probe, client, "icmp", "10.200.0.5", 0) == (
        f"UNREACHABLE 10 {gateway}"
    )
    assert await asyncio.to_thread(probe, client, "tcp", "10.200.0.5", 80) == "ERROR 113"
    assert outcome(cluster.trace("default/client", "10.200.0.5:80")) == ("rejected", "fib")


GARBAGE = r"""
import socket, sys
gateway_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
src, dst = socket.inet_aton(sys.argv[2]), socket.inet_aton(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
own = s.getsockname()[4]
eth = lambda kind: gateway_mac + own + kind
for frame in (
    b"\x01\x02",                                             # shorter than Ethernet
    eth(b"\x08\x00") + b"\x45\x00",                          # truncated IPv4 header
    eth(b"\x08\x00") + bytes.fromhex("4f000014") + b"\0" * 16,  # IHL 60 > datagram
    eth(b"\x08\x06") + b"\x00\x06\x08\x00\x06\x04\x00\x01",  # ARP, not Ethernet, cut
    eth(b"\x08\x00") + bytes.fromhex("450000200000000040060000") + src + dst + bytes(12),
):                                                           # to web-0, TCP header cut to 12
    s.send(frame.ljust(14, b"\0"))
print("sent")
"""


async def test_malformed_frames_are_dropped_and_forwarding_goes_on(cluster: Cluster) -> None:
    client = cluster.pods["client"]
    gateway_mac = client.ip("neigh").split("lladdr ")[1].split()[0]
    sent = subprocess.run(
        ["ip", "netns", "exec", client.netns_name, sys.executable, "-c", GARBAGE, gateway_mac,
         cluster.ips["client"], cluster.ips["web-0"]],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert sent.stdout.strip() == "sent", sent.stderr
    web0 = cluster.ips["web-0"]
    assert await asyncio.to_thread(probe, client.netns_name, "tcp", web0, 8080) == (
        "CONNECTED HTTP/1.0 200 OK"
    )
    assert cluster.node.sim.proc is not None and cluster.node.sim.proc.poll() is None
    # Dropped as malformed, not by a handler crashing on them (logged as frame_failed).
    assert "frame_failed" not in (cluster.node.work / "vpp.log").read_text()


async def test_cluster_ip_then_a_deny_policy(cluster: Cluster) -> None:
    client = cluster.pods["client"].netns_name
    backends = {"web-0": cluster.ips["web-0"], "web-1": cluster.ips["web-1"]}
    await put_objects(
        cluster.etcd, service_objects("web", CLUSTER_IP, 80, 8080, backends, cluster.node.name)
    )

    def served() -> bool:
        return probe(client, "tcp", CLUSTER_IP, 80, 1.0) == "CONNECTED HTTP/1.0 200 OK"

    await eventually(served, "the ClusterIP answers")
    trace = cluster.trace("default/client", f"{CLUSTER_IP}:80")
    assert outcome(trace) == ("delivered", "deliver")
    packet = trace["outcome"]["packet"]  # type: ignore[index]
    assert packet["dst"] in backends.values() and packet["dport"] == 8080

    # Deny everything into the web pods except from pods labelled app=web.
    allow_web = [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]
    await put_objects(cluster.etcd, [policy_object("web-isolated", {"app": "web"}, allow_web)])

    def denied() -> bool:
        return probe(client, "tcp", CLUSTER_IP, 80, 1.0) == "TIMEOUT"

    await eventually(denied, "the policy stops the client")
    trace = cluster.trace("default/client", f"{CLUSTER_IP}:80")
    result, stage = outcome(trace)
    assert result == "dropped" and stage.startswith("acl"), trace["outcome"]
    # The allowed peer still gets through, to the other backend's pod IP directly.
    web1 = cluster.pods["web-1"].netns_name
    assert await asyncio.to_thread(probe, web1, "tcp", cluster.ips["web-0"], 8080) == (
        "CONNECTED HTTP/1.0 200 OK"
    )
    assert outcome(cluster.trace("default/web-1", "default/web-0:8080")) == (
        "delivered",
        "deliver",
    )
