"""The agent's front door under faults and tampering: VPP gone, a pod's netns edited by hand,
sockets and files created under a zero umask."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import attrs
from agent_harness import Node, Pod

from contivpp.renderers.pods import pod_macs
from etcd_server import free_port


def readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def eventually_ready(port: int, want: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status, text = await asyncio.to_thread(readyz, port)
        if status == want:
            return text
        assert time.monotonic() < deadline, f"/readyz stayed {status}: {text}"
        await asyncio.sleep(0.1)


async def add_pod(node: Node, pods: list[Pod], name: str) -> tuple[Pod, dict[str, object]]:
    pod = Pod(node, name)
    pods.append(pod)
    pod.create_netns()
    code, result = await pod.cni("ADD")
    assert code == 0, result
    return pod, result


async def test_vpp_outage_means_not_ready_and_try_again_later(node: Node, pods: list[Pod]) -> None:
    port = free_port()
    node.settings = attrs.evolve(node.settings, http_port=port)
    await node.start_agent()
    a, _ = await add_pod(node, pods, "a")
    await eventually_ready(port, 200)

    node.sim.stop()
    text = await eventually_ready(port, 503, timeout=10)
    assert "VPP not connected" in text
    b = Pod(node, "b")
    pods.append(b)
    b.create_netns()
    started = time.monotonic()
    code, out = await b.cni("ADD")
    assert (code, out.get("code")) == (1, 11), out
    assert "VPP not connected" in str(out["msg"])
    assert time.monotonic() - started < 2, "answered at once, not after a VPP timeout"
    code, out = await a.cni("DEL")
    assert (code, out.get("code")) == (1, 11), out
    code, out = await a.cni("STATUS", {"cniVersion": "1.1.0"})
    assert (code, out.get("code")) == (1, 50), out
    assert node.agent is not None
    assert sorted(node.agent.controller.state.local_pods) == [("default", "a")], "no change"

    node.sim.start()
    await eventually_ready(port, 200)
    code, out = await b.cni("ADD")
    assert code == 0, out
    code, out = await a.cni("STATUS", {"cniVersion": "1.1.0"})
    assert (code, out) == (0, {})


async def test_check_names_what_the_pod_lost(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    pod, result = await add_pod(node, pods, "web")
    assert await pod.cni("CHECK", {"prevResult": result}) == (0, {})

    subprocess.run(["ip", "-n", pod.netns_name, "route", "del", "default"], check=True)
    code, out = await pod.cni("CHECK", {"prevResult": result})
    assert (code, out["code"]) == (1, 999), out
    assert "route 0.0.0.0/0 via 10.1.1.1 dev eth0" in str(out["msg"])
    assert "10.1.1.1/32" not in str(out["msg"]), "only what is missing is named"

    _, vpp_mac = pod_macs(pod.container_id, "eth0")
    subprocess.run(["ip", "-n", pod.netns_name, "neigh", "del", "10.1.1.1", "dev", "eth0"],
                   check=True)  # fmt: skip
    subprocess.run(["ip", "-n", pod.netns_name, "addr", "flush", "dev", "eth0"], check=True)
    code, out = await pod.cni("CHECK", {"prevResult": result})
    assert (code, out["code"]) == (1, 999), out
    msg = str(out["msg"])
    assert f"ARP entry 10.1.1.1 lladdr {vpp_mac} dev eth0" in msg
    assert "address 10.1.1.2/32 on eth0" in msg

    subprocess.run(["ip", "-n", pod.netns_name, "link", "del", "eth0"], check=True)
    code, out = await pod.cni("CHECK", {"prevResult": result})
    assert (code, out["code"]) == (1, 999) and "interface eth0" in str(out["msg"]), out


async def test_files_and_sockets_are_private_under_a_zero_umask(
    node: Node, pods: list[Pod]
) -> None:
    node.sim.stop()
    old = os.umask(0)
    try:
        node.sim.start()
        await node.start_agent()
        await add_pod(node, pods, "a")
        assert node.agent is not None
        await node.agent.pod_saver.flush()
    finally:
        os.umask(old)
    work = node.work
    for path in (node.sim.socket, node.cni_socket, work / "cni-grpc.sock"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (work / "state" / "pods.json").stat().st_mode & 0o777 == 0o600
    logs = list((work / "events").iterdir())
    assert logs and all(p.stat().st_mode & 0o077 == 0 for p in logs), [
        (p.name, oct(p.stat().st_mode)) for p in logs
    ]
    assert json.loads((work / "state" / "pods.json").read_text())["pods"][0]["name"] == "a"
