"""Service health checks on a running agent: objects come through etcd as the KSR writes them,
and a load balancer's probe of the healthCheckNodePort gets kube-proxy's answer."""

from __future__ import annotations

import asyncio
import socket

import attrs
from agent_harness import Node

from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object
from contivpp.demo import put_objects
from etcd_server import EtcdServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def objects(hc_port: int, node: str) -> list[dict[str, object]]:
    service: dict[str, object] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.30",
                 "externalTrafficPolicy": "Local", "healthCheckNodePort": hc_port,
                 "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 31080}]},
    }  # fmt: skip
    endpoints: dict[str, object] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.1.2"], "conditions": {"ready": True}, "nodeName": node}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }  # fmt: skip
    return [service, endpoints]


async def probe(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: lb\r\n\r\n")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def answers(port: int, first_line: bytes, *fragments: bytes) -> bytes:
    """The probe's answer once it starts with ``first_line`` and holds every fragment."""
    deadline = asyncio.get_running_loop().time() + 15
    last = b""
    while asyncio.get_running_loop().time() < deadline:
        try:
            last = await probe(port)
        except ConnectionRefusedError:
            last = b"(connection refused)"
        if last.startswith(first_line) and all(f in last for f in fragments):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"wanted {first_line!r} with {fragments}, last answer: {last!r}")


async def refused(port: int) -> None:
    deadline = asyncio.get_running_loop().time() + 15
    while asyncio.get_running_loop().time() < deadline:
        try:
            await probe(port)
        except ConnectionRefusedError:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"port {port} still answers")


async def test_probes_follow_local_endpoints_agent_health_and_the_service(
    node: Node, etcd_server: EtcdServer
) -> None:
    node.settings = attrs.evolve(node.settings, service_health_check_host="127.0.0.1")
    await node.start_agent()
    port = free_port()
    etcd = (etcd_server.host, etcd_server.port)
    service, endpoints = objects(port, node.name)

    await put_objects(etcd, [service, endpoints])
    ok = await answers(port, b"HTTP/1.1 200 OK\r\n", b'"localEndpoints": 1')
    assert b"X-Load-Balancing-Endpoint-Weight: 1\r\n" in ok

    # The endpoint moves to another node: this node must be taken out of the LB.
    _, elsewhere = objects(port, "node-z")
    await put_objects(etcd, [elsewhere])
    await answers(port, b"HTTP/1.1 503 Service Unavailable\r\n", b'"localEndpoints": 0')
    await put_objects(etcd, [endpoints])
    await answers(port, b"HTTP/1.1 200 OK\r\n")

    # VPP goes away: the agent is not ready, so neither is the node for this service.
    node.sim.stop()
    await answers(
        port,
        b"HTTP/1.1 503 Service Unavailable\r\n",
        b'"localEndpoints": 1',
        b'"serviceProxyHealthy": false',
    )
    node.sim.start()
    await answers(port, b"HTTP/1.1 200 OK\r\n", b'"serviceProxyHealthy": true')

    # The Service goes: nothing listens on its port any more.
    async with EtcdStore([etcd]) as store:
        await store.delete(encode_object(service).key)
    await refused(port)


async def test_without_an_address_nothing_listens(node: Node, etcd_server: EtcdServer) -> None:
    assert node.settings.service_health_check_host is None
    agent = await node.start_agent()
    port = free_port()
    await put_objects((etcd_server.host, etcd_server.port), objects(port, node.name))
    for _ in range(50):
        if agent.controller.state.of_kind("Service"):
            break
        await asyncio.sleep(0.1)
    assert agent.controller.state.of_kind("Service"), "the Service never reached the agent"
    await refused(port)
