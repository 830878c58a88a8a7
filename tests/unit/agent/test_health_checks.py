"""Service health checks answered as kube-proxy answers them.

Expected values come from kube-proxy: ``pkg/proxy/healthcheck/service_health.go`` (status
200 only with local endpoints and a healthy proxy, the three headers, the dedented body
template) and ``EndpointsMap.LocalReadyEndpoints`` (ready local endpoints counted by address).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from contivpp.agent import health_checks
from contivpp.agent.health_checks import HealthCheck, HealthCheckServers, answer, body
from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import K8sUpserted


def service(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.0.20",
            "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000,
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 31000}],
            **spec,
        },
    }


def endpoint(ip: str, node: str, **conditions: bool) -> dict[str, object]:
    return {"addresses": [ip], "nodeName": node, "conditions": conditions}


def slice_(name: str, svc: str, *eps: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": svc},
        },
        "addressType": "IPv4",
        "endpoints": list(eps),
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
        **extra,
    }


def state_of(*objects: dict[str, object]) -> ClusterState:
    state = initial_state(AgentConfig(node_name="node-1"))
    for raw in objects:
        state = fold(state, K8sUpserted(k8s.parse_object(raw)))
    return state


@pytest.mark.parametrize(
    ("spec", "needs"),
    [
        ({}, True),
        ({"externalTrafficPolicy": "Cluster"}, False),
        ({"type": "NodePort"}, False),
        ({"healthCheckNodePort": 0}, False),
    ],
    ids=["lb-local", "lb-cluster", "nodeport-local", "no-port-allocated"],
)
def test_which_services_need_a_check(spec: dict[str, object], needs: bool) -> None:
    state = state_of(service("web", **spec))
    assert health_checks.wanted(state) == (
        {32000: HealthCheck("shop", "web", 32000)} if needs else {}
    )


def test_two_services_on_one_port_the_first_has_it_and_the_other_is_named() -> None:
    state = state_of(service("b"), service("a"))
    served = health_checks.wanted(state)
    assert served == {32000: HealthCheck("shop", "a", 32000)}
    assert health_checks.clashing(state, served) == [HealthCheck("shop", "b", 32000)]


def test_ready_local_endpoints_are_counted_once_per_address() -> None:
    state = state_of(
        service("web"),
        slice_(
            "web-1",
            "web",
            endpoint("10.1.1.2", "node-1", ready=True),
            endpoint("10.1.1.3", "node-1"),  # conditions left out: ready
            endpoint("10.1.2.2", "node-2", ready=True),  # another node's
            endpoint("10.1.1.4", "node-1", ready=False, serving=True, terminating=True),
        ),
        # the same address in a second slice (another port) counts once
        slice_(
            "web-2",
            "web",
            endpoint("10.1.1.2", "node-1", ready=True),
            ports=[{"name": "admin", "protocol": "TCP", "port": 9090}],
        ),
        # another service's slice is not this one's
        slice_("db-1", "db", endpoint("10.1.1.9", "node-1", ready=True)),
    )
    assert health_checks.local_endpoints(state, "shop", "web") == 2
    assert health_checks.local_endpoints(state, "shop", "db") == 1
    assert health_checks.local_endpoints(state, "shop", "absent") == 0


def test_slices_without_port_numbers_and_ipv6_slices_add_nothing() -> None:
    state = state_of(
        service("web"),
        slice_("web-1", "web", endpoint("10.1.1.2", "node-1"), ports=[{"name": "http"}]),
        slice_("web-2", "web", endpoint("fd00::2", "node-1"), addressType="IPv6"),
    )
    assert health_checks.local_endpoints(state, "shop", "web") == 0


CHECK = HealthCheck("shop", "web", 32000)


def test_the_body_is_kube_proxys_template_byte_for_byte() -> None:
    assert body(CHECK, 2, True) == (
        b'{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "web"\n\t},\n'
        b'\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}'
    )


@pytest.mark.parametrize(
    ("count", "healthy", "status"),
    [
        (2, True, b"200 OK"),
        (0, True, b"503 Service Unavailable"),
        (2, False, b"503 Service Unavailable"),
    ],
)
def test_status_and_headers(count: int, healthy: bool, status: bytes) -> None:
    head, _, content = answer(CHECK, count, healthy).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 " + status
    assert set(lines[1:]) == {
        b"Content-Type: application/json",
        b"X-Content-Type-Options: nosniff",
        b"X-Load-Balancing-Endpoint-Weight: " + str(count).encode(),
        b"Content-Length: " + str(len(content)).encode(),
        b"Connection: close",
    }
    assert content == body(CHECK, count, healthy)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def request(port: int, raw: bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


async def test_servers_answer_follow_the_wanted_set_and_count_at_each_probe(port: int) -> None:
    counts = {("shop", "web"): 1}
    healthy = [True]
    servers = HealthCheckServers(
        "127.0.0.1", lambda ns, name: counts.get((ns, name), 0), lambda: healthy[0]
    )
    check = HealthCheck("shop", "web", port)
    await servers.sync({port: check})
    try:
        assert await request(port) == answer(check, 1, True)
        counts[("shop", "web")] = 0
        assert await request(port) == answer(check, 0, True)  # 503, no restart needed
        counts[("shop", "web")], healthy[0] = 3, False
        assert await request(port) == answer(check, 3, False)
        head = await request(port, b"HEAD / HTTP/1.1\r\n\r\n")
        assert head == answer(check, 3, False, head_only=True)
        assert b"\r\n\r\n" in head and head.endswith(b"\r\n\r\n")
        bad = await request(port, b"garbage\r\n\r\n")
        assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n") and bad.endswith(b"400 Bad Request")
        # Another service on the port: the old listener goes, the new one answers for it.
        other = HealthCheck("shop", "api", port)
        await servers.sync({port: other})
        assert b'"name": "api"' in await request(port)
    finally:
        await servers.close()
    with pytest.raises(ConnectionRefusedError):
        await request(port)


async def test_a_busy_port_is_retried_until_it_frees(port: int) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    servers = HealthCheckServers("127.0.0.1", lambda ns, name: 1, lambda: True)
    check = HealthCheck("shop", "web", port)
    try:
        await servers.sync({port: check})
        assert servers.failed == {port: check} and servers.serving == {}
        squatter.close()
        await servers.sync({port: check})  # what retry_failed does every RETRY_INTERVAL
        assert servers.failed == {} and servers.serving == {port: check}
        assert (await request(port)).startswith(b"HTTP/1.1 200 OK\r\n")
        # A check that is no longer wanted is not retried.
        await servers.sync({})
        assert servers.failed == {} and servers.serving == {}
    finally:
        squatter.close()
        await servers.close()
