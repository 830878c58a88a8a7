"""The agent with its real neighbours: etcd, a VPP simulator with real taps, the CNI binary
executed like kubelet does, pods in real network namespaces."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from agent_harness import Node, Pod

from contivpp.agent.nodeid import list_nodes
from contivpp.cni import relay
from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object
from contivpp.renderers.pods import pod_macs
from etcd_server import EtcdServer


async def add_pod(node: Node, pods: list[Pod], name: str) -> tuple[Pod, dict[str, object]]:
    pod = Pod(node, name)
    pods.append(pod)
    pod.create_netns()
    code, result = await pod.cni("ADD")
    assert code == 0, result
    return pod, result


async def test_add_check_del_wire_and_unwire_a_pod(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    pod, result = await add_pod(node, pods, "web-0")
    ip = result["ips"][0]["address"]  # type: ignore[index]
    assert ip == "10.1.1.2/32"
    pod_mac, vpp_mac = pod_macs(pod.container_id, "eth0")
    # the pod side, as `ip` shows it
    assert "inet 10.1.1.2/32" in pod.ip("addr", "show", "eth0")
    routes = pod.ip("route")
    assert "default via 10.1.1.1 dev eth0" in routes and "10.1.1.1 dev eth0" in routes
    assert f"10.1.1.1 dev eth0 lladdr {vpp_mac} PERMANENT" in pod.ip("neigh")
    # the VPP side
    view = await node.vpp_view()
    tap = next(n for n, _, _ in view["interfaces"] if n.startswith("tap-") and n != "tap-vpp2")  # type: ignore[union-attr]
    assert (1, "10.1.1.2/32", "10.1.1.2", tap, 0) in view["routes"]  # type: ignore[operator]
    assert (tap, "10.1.1.2", pod_mac) in view["arp"]  # type: ignore[operator]

    code, out = await pod.cni("CHECK", {"prevResult": result})
    assert (code, out) == (0, {})

    code, out = await pod.cni("DEL")
    assert (code, out) == (0, {})
    view = await node.vpp_view()
    assert not [n for n, _, _ in view["interfaces"] if n == tap]  # type: ignore[union-attr]
    assert not [r for r in view["routes"] if r[1] == "10.1.1.2/32"]  # type: ignore[union-attr]
    assert "eth0" not in pod.ip("link")
    code, _ = await pod.cni("DEL")  # idempotent, also with the pod gone
    assert code == 0


async def test_agent_restart_keeps_addresses_and_vpp_untouched(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    a, ra = await add_pod(node, pods, "a")
    b, rb = await add_pod(node, pods, "b")
    before = await node.vpp_view()
    await node.stop_agent()

    agent = await node.start_agent()
    assert await node.vpp_view() == before
    startup = [r for r in agent.scheduler.history if r.trigger.endswith("ResyncRequested")]
    assert startup and startup[0].calls == 0, [
        (o.op, o.key, o.prev_value, o.new_value) for o in startup[0].executed
    ]
    for pod, result in ((a, ra), (b, rb)):
        code, _ = await pod.cni("CHECK", {"prevResult": result})
        assert code == 0
    _c, rc = await add_pod(node, pods, "c")
    addresses = {r["ips"][0]["address"] for r in (ra, rb, rc)}  # type: ignore[index]
    assert len(addresses) == 3, "no duplicate address after a restart"


async def test_vpp_restart_is_detected_and_resynced_to_the_same_state(
    node: Node, pods: list[Pod]
) -> None:
    agent = await node.start_agent()
    await add_pod(node, pods, "a")
    await add_pod(node, pods, "b")
    before = await node.vpp_view()
    node.sim.restart()
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        await asyncio.sleep(0.2)
        downstream = [r for r in agent.scheduler.history if r.kind.value == "downstream-resync"]
        if downstream and await node.vpp_view() == before:
            break
        assert asyncio.get_running_loop().time() < deadline, "VPP was not resynced"
    # pods still work after the resync
    pod, _ = await add_pod(node, pods, "after-restart")
    assert "inet 10.1.1.4/32" in pod.ip("addr", "show", "eth0")


async def test_two_nodes_get_distinct_ids_and_a_vxlan_mesh(
    workdir: Path, etcd_server: EtcdServer
) -> None:
    nodes = []
    for name in ("node-a", "node-b"):
        work = workdir / name
        work.mkdir()
        # Two simulators on one host cannot both own a Linux "vpp1": the mesh needs no taps.
        n = Node(name, work, etcd_server, linux_taps=False)
        n.sim.start()
        nodes.append(n)
    try:
        for n in nodes:
            await n.start_agent()
        a, b = nodes
        assert a.agent is not None and b.agent is not None
        ids = {a.agent.status.node_id, b.agent.status.node_id}
        assert ids == {1, 2}
        ida = a.agent.status.node_id
        idb = b.agent.status.node_id

        def routed(view: dict[str, object], other: int) -> bool:
            routes = view["routes"]
            assert isinstance(routes, list)
            return any(
                r[1] == f"10.1.{other}.0/24" and r[2] == f"192.168.30.{other}" for r in routes
            )

        # Each node learns of the other through etcd and programs the tunnel and the routes
        # over it in transactions of their own: wait for all of them, then check their values.
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            va, vb = await a.vpp_view(), await b.vpp_view()
            if va["vxlan"] and vb["vxlan"] and routed(va, idb) and routed(vb, ida):
                break
            assert asyncio.get_running_loop().time() < deadline, "no VXLAN mesh"
            await asyncio.sleep(0.2)
        assert va["vxlan"] == [(f"192.168.16.{ida}", f"192.168.16.{idb}", 10)]
        assert vb["vxlan"] == [(f"192.168.16.{idb}", f"192.168.16.{ida}", 10)]

        # node-b leaves the cluster: its agent stops and the KSR deletes its Node object
        await b.stop_agent()
        node_b = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-b"}}
        encoded = encode_object(node_b)
        async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
            await store.put(encoded.key, encoded.value)
            await asyncio.sleep(0.3)
            await store.delete(encoded.key)
            deadline = asyncio.get_running_loop().time() + 20
            while (await a.vpp_view())["vxlan"]:
                assert asyncio.get_running_loop().time() < deadline, "tunnel to node-b stayed"
                await asyncio.sleep(0.2)
            records, _ = await list_nodes(store)
        assert [r.name for r in records.values()] == ["node-a"], "node-b's ID was not released"
        assert not any(r[1] == f"10.1.{idb}.0/24" for r in (await a.vpp_view())["routes"])  # type: ignore[union-attr]
    finally:
        for n in nodes:
            await n.stop_agent()
            n.sim.stop()


async def test_bad_requests_get_errors_and_the_agent_keeps_serving(
    node: Node, pods: list[Pod]
) -> None:
    await node.start_agent()
    reader, writer = await asyncio.open_unix_connection(str(node.cni_socket))
    writer.write(relay.encode_request({"CNI_COMMAND": b"ADD", "stdin": b"{broken"}))
    writer.write_eof()
    code, out = relay.decode_reply(await reader.read())
    writer.close()
    error = json.loads(out)
    assert code == 1 and error["code"] == 6 and "unmarshall" in error["msg"]
    ghost = Pod(node, "ghost")  # netns never created
    code, out = await ghost.cni("ADD")
    assert (code, out["code"]) == (1, 999) and "failed to open netns" in str(out["msg"])
    _, result = await add_pod(node, pods, "fine")
    assert result["ips"]


def test_no_netns_leaks() -> None:
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "ctv-" not in leftovers


async def test_etcd_down_keeps_the_dataplane_and_cni_serving(
    node: Node, pods: list[Pod], etcd_server: EtcdServer
) -> None:
    await node.start_agent()
    a, ra = await add_pod(node, pods, "a")
    before = await node.vpp_view()
    etcd_server.stop()
    try:
        await asyncio.sleep(1.0)  # the agent notices the lost connection
        assert await node.vpp_view() == before, "an etcd outage must not touch VPP"
        code, _ = await a.cni("CHECK", {"prevResult": ra})
        assert code == 0
        b, rb = await add_pod(node, pods, "b")  # new pods are still wired
        assert rb["ips"][0]["address"] == "10.1.1.3/32"  # type: ignore[index]
        code, _ = await b.cni("DEL")
        assert code == 0
    finally:
        etcd_server.start()
    assert node.task is not None and not node.task.done(), "the agent kept running"
