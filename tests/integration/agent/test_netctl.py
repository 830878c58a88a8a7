"""``contivpp netctl`` against a running agent on the simulator, with Kubernetes objects in
etcd as the KSR writes them: two nodes (one without an agent), two pods, a service with its
endpoints, a policy. Every command is run as an operator would, in tables and in JSON; the
expected values are the literal objects and addresses this test put in place."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent_harness import Node, Pod

from contivpp.agent.run import Agent
from contivpp.cli import build_parser
from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object
from contivpp.netctl.main import run
from contivpp.renderers.pods import tap_name
from etcd_server import EtcdServer

CONTIVPP = str(Path(sys.executable).with_name("contivpp"))


def k8s_objects() -> list[dict[str, Any]]:
    def node(name: str, ip: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}  # fmt: skip

    def pod(name: str, ip: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
                "spec": {"nodeName": "node-a"}, "status": {"podIP": ip}}  # fmt: skip

    return [
        node("node-a", "192.168.56.10"),
        node("node-b", "127.0.0.3"),  # nothing listens there: its agent is "unreachable"
        pod("web", "10.1.1.2"),
        pod("db", "10.1.1.3"),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "web", "namespace": "default"},
         "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                  "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.1.1.2"], "conditions": {"ready": True},
                        "nodeName": "node-a"}],
         "ports": [{"port": 8080, "protocol": "TCP", "name": ""}]},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "db-from-web", "namespace": "default"},
         "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                               "ports": [{"port": 5432, "protocol": "TCP"}]}]}},
    ]  # fmt: skip


async def start(node: Node, pods: list[Pod], etcd: EtcdServer) -> tuple[Agent, Pod, Pod]:
    agent = await node.start_agent()
    wired = []
    for name in ("web", "db"):
        pod = Pod(node, name)
        pods.append(pod)
        pod.create_netns()
        code, result = await pod.cni("ADD")
        assert code == 0, result
        wired.append(pod)
    async with EtcdStore([(etcd.host, etcd.port)]) as store:
        for raw in k8s_objects():
            encoded = encode_object(raw)
            await store.put(encoded.key, encoded.value)
    for _ in range(100):  # the agent sees the objects through its etcd watch
        if len(agent.controller.state.of_kind("NetworkPolicy")) and len(
            agent.controller.state.of_kind("EndpointSlice")
        ):
            break
        await asyncio.sleep(0.1)
    await agent.bus.join()
    return agent, wired[0], wired[1]


async def netctl(agent: Agent, etcd: EtcdServer, *argv: str) -> tuple[int, str, str]:
    common = ["netctl", "--etcd-endpoints", f"{etcd.host}:{etcd.port}", "--node-name", "node-a",
              "--agent-port", str(agent.http_port), "--timeout", "2"]  # fmt: skip
    args = build_parser().parse_args([*common, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = await run(args, out, err)
    return code, out.getvalue(), err.getvalue()


async def test_every_netctl_command(node: Node, pods: list[Pod], etcd_server: EtcdServer) -> None:
    agent, web, db = await start(node, pods, etcd_server)
    web_tap, db_tap = tap_name(web.container_id), tap_name(db.container_id)

    code, out, err = await netctl(agent, etcd_server, "nodes")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "ID  NAME    VPP-IP           MANAGEMENT-IP  HEALTH",
        "1   node-a  192.168.16.1/24  192.168.56.10  ready",
        "-   node-b  -                127.0.0.3      unreachable",
    ]
    code, out, _ = await netctl(agent, etcd_server, "--json", "nodes")
    assert json.loads(out)["nodes"][0] == {
        "id": 1, "name": "node-a", "vpp_ips": ["192.168.16.1/24"],
        "management_ip": "192.168.56.10", "health": "ready"}  # fmt: skip

    code, out, err = await netctl(agent, etcd_server, "pods")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "NODE    POD          IP        VPP-INTERFACE",
        f"node-a  default/db   10.1.1.3  {db_tap}",
        f"node-a  default/web  10.1.1.2  {web_tap}",
    ]
    # node-b's agent cannot be reached: no rows, and the reason (stderr; "errors" in JSON)
    code, out, err = await netctl(agent, etcd_server, "pods", "node-b")
    assert (code, out) == (0, "NODE  POD  IP  VPP-INTERFACE\n")
    unreachable = (
        f"agent of node node-b at http://127.0.0.3:{agent.http_port}: unreachable (Cannot "
        f"connect to host 127.0.0.3:{agent.http_port} ssl:default [Connect call failed "
        f"('127.0.0.3', {agent.http_port})]); is it running, or give its address with "
        "--agent node-b=URL"
    )
    assert err == f"contivpp netctl: warning: {unreachable}\n"
    code, out, _ = await netctl(agent, etcd_server, "--json", "pods", "node-b")
    assert json.loads(out) == {"pods": [], "errors": [unreachable]}

    code, out, _ = await netctl(agent, etcd_server, "ipam")
    assert "POD-SUBNET:           10.1.1.0/24" in out.splitlines()
    assert out.splitlines()[-3:] == [
        "IP        POD", "10.1.1.2  default/web", "10.1.1.3  default/db"]  # fmt: skip

    code, out, _ = await netctl(agent, etcd_server, "services")
    assert out.splitlines() == [
        "SERVICE      TYPE       CLUSTER-IP  PORTS   ENDPOINTS",
        "default/web  ClusterIP  10.96.0.10  80/TCP  10.1.1.2",
    ]

    code, out, _ = await netctl(agent, etcd_server, "--json", "policies", "default/db")
    [db_policies] = json.loads(out)["pods"]
    assert db_policies["policies"] == ["default/db-from-web"]
    assert db_policies["vpp_interface"] == db_tap
    assert len(db_policies["output_acls"]) == 1
    assert db_policies["output_acls"][0].startswith("policy-")
    code, out, _ = await netctl(agent, etcd_server, "policies")
    lines = out.splitlines()
    assert lines[0].split() == ["POD", "VPP-INTERFACE", "INPUT-ACLS", "OUTPUT-ACLS", "POLICIES"]
    assert lines[1].split()[0::4] == ["default/db", "default/db-from-web"]
    assert lines[2].split()[0] == "default/web" and lines[2].split()[-1] == "-"

    code, out, _ = await netctl(agent, etcd_server, "txn-history", "--last", "2")
    assert code == 0 and out.count("\ntxn ") + out.startswith("txn ") == 2
    code, out, _ = await netctl(agent, etcd_server, "--json", "txn-history", "--last", "1")
    assert len(json.loads(out)["transactions"]) == 1

    code, out, _ = await netctl(agent, etcd_server, "graph")
    assert out.startswith("digraph kvscheduler {")

    code, out, _ = await netctl(agent, etcd_server, "dump", "--prefix", f"vpp/interface/{db_tap}")
    assert out.splitlines()[0].split() == ["KEY", "VALUE"]
    assert out.splitlines()[1].startswith(f"vpp/interface/{db_tap}  {{")
    code, out, _ = await netctl(
        agent, etcd_server, "--json", "dump", "--view", "actual", "--prefix", "vpp/interface/tap-"
    )
    assert f"vpp/interface/{web_tap}" in json.loads(out)["values"]

    # the policy admits web -> db on 5432 only: a trace says so, by exit code too
    code, out, _ = await netctl(agent, etcd_server, "trace", "default/web", "default/db:5432")
    assert code == 0 and out.splitlines()[-1] == (
        f"  => DELIVERED to {db_tap} (pod default/db) on node-a"
    )
    code, out, _ = await netctl(agent, etcd_server, "trace", "default/web", "default/db:80")
    assert code == 3
    assert out.splitlines()[-1].startswith("  => DROPPED at acl-out on node-a: ")


async def test_netctl_errors_are_one_line(
    node: Node, pods: list[Pod], etcd_server: EtcdServer
) -> None:
    agent = await node.start_agent()
    base = [CONTIVPP, "netctl", "--etcd-endpoints", f"{etcd_server.host}:{etcd_server.port}",
            "--node-name", "node-a", "--agent-port", str(agent.http_port)]  # fmt: skip

    async def cli(*argv: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *base, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    assert await cli("policies", "nobody") == (
        1, "", "contivpp netctl: pod 'nobody': expected NAMESPACE/NAME\n")  # fmt: skip
    assert await cli("trace", "default/ghost", "10.1.1.9") == (
        1, "", "contivpp netctl: agent of node node-a "
        f"(http://127.0.0.1:{agent.http_port}): 400: trace: source 'default/ghost': "
        "no such pod on this node\n")  # fmt: skip
    assert await cli("--agent", "node-a", "ipam") == (
        1, "", "contivpp netctl: --agent 'node-a': expected NODE=http://HOST:PORT\n")  # fmt: skip
    assert await cli("ipam", "node-c") == (
        1, "", "contivpp netctl: node node-c: no management address known in etcd; "
        "give its agent with --agent node-c=http://HOST:PORT\n")  # fmt: skip
    code, out, err = await cli("--agent", "node-a=http://127.0.0.1:1", "ipam")
    assert (code, out) == (1, "")
    assert err.startswith(
        "contivpp netctl: agent of node node-a at http://127.0.0.1:1: unreachable"
    )
    for argv in (("--json", "ipam"), ("ipam", "--json")):  # --json before or after the command
        code, out, _ = await cli(*argv)
        assert code == 0 and json.loads(out)["pod_subnet"] == "10.1.1.0/24"
