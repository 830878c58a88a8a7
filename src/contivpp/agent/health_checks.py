"""Service health checks (``healthCheckNodePort``), answered as kube-proxy answers them.

A LoadBalancer Service with ``externalTrafficPolicy: Local`` gets a ``healthCheckNodePort``
from the API server. Cloud load balancers probe it on every node and only send traffic to
nodes that answer 200, because such a service's traffic is only served by endpoints of the
node it arrives at. kube-proxy answers these probes; with contivpp there is no kube-proxy,
so the agent does (``pkg/proxy/healthcheck/service_health.go``, ``EndpointsMap.
LocalReadyEndpoints`` in ``pkg/proxy/endpoints.go``):

- one listener per service that needs a check, on its port, for any method and path;
- 200 when the node has at least one ready local endpoint of the service *and* the proxy is
  healthy (for us: the agent is ready), else 503;
- ready local endpoints are counted by address (an address with several ports counts once),
  over the service's slices, and only endpoints whose Ready condition is true (terminating
  ones, even when still serving, are not counted);
- headers ``Content-Type: application/json``, ``X-Content-Type-Options: nosniff`` and
  ``X-Load-Balancing-Endpoint-Weight: <count>``, and kube-proxy's tab-indented JSON body.

The checks are computed from the cluster state when a probe arrives; what listens follows
the Services (:meth:`HealthCheckServers.sync`, called when the Service set changes). Where
to listen is the agent setting ``serviceHealthCheckAddress``: unset, nothing listens (the
agent opens no non-loopback port unless told to) and each service that needs a check is named
once in a warning.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping

import attrs
import structlog

from contivpp.events import k8s
from contivpp.events.state import ClusterState

log = structlog.get_logger("contivpp.agent.health_checks")

#: A probe's request head larger than this, or slower than the timeout, is not answered.
_MAX_REQUEST_HEAD = 8192
_REQUEST_TIMEOUT = 5.0
#: Ports that could not be listened on are tried again this often.
RETRY_INTERVAL = 10.0


@attrs.frozen
class HealthCheck:
    namespace: str
    name: str
    port: int


def needs_health_check(service: k8s.Service) -> bool:
    """kube-proxy's ``NeedsHealthCheck``, for a service the API gave a port."""
    return (
        service.type == "LoadBalancer"
        and service.external_traffic_policy == "Local"
        and 0 < service.health_check_node_port <= 65535
    )


def wanted(state: ClusterState) -> dict[int, HealthCheck]:
    """Port -> the check served on it. The API server allocates distinct ports; should two
    services still name one port, the first by namespace/name has it (and the other is
    logged by :meth:`HealthCheckServers.sync` as not served)."""
    out: dict[int, HealthCheck] = {}
    for (namespace, name), service in sorted(state.of_kind("Service").items()):
        if isinstance(service, k8s.Service) and needs_health_check(service):
            out.setdefault(
                service.health_check_node_port,
                HealthCheck(namespace, name, service.health_check_node_port),
            )
    return out


def clashing(state: ClusterState, served: Mapping[int, HealthCheck]) -> list[HealthCheck]:
    """Services that need a check on a port another service's check already has."""
    out = []
    for (namespace, name), service in sorted(state.of_kind("Service").items()):
        if isinstance(service, k8s.Service) and needs_health_check(service):
            check = HealthCheck(namespace, name, service.health_check_node_port)
            if served.get(check.port) != check:
                out.append(check)
    return out


def local_endpoints(state: ClusterState, namespace: str, name: str) -> int:
    """Ready endpoint addresses of the service on this node (kube-proxy's count)."""
    node = state.config.node_name
    slices = state.of_kind("EndpointSlice")
    addresses = set()
    for key in state.index.slices_of((namespace, name)):
        eps = slices.get(key)
        if not isinstance(eps, k8s.EndpointSlice) or eps.address_type != "IPv4":
            continue
        # kube-proxy's slice cache skips ports without a number: a slice with none of them
        # contributes no endpoint at all.
        if not any(p.port for p in eps.ports):
            continue
        for ep in eps.endpoints:
            if ep.addresses and ep.ready and ep.node_name == node:
                addresses.add(ep.addresses[0])
    return len(addresses)


def body(check: HealthCheck, count: int, healthy: bool) -> bytes:
    """kube-proxy's body: its dedented template, tabs and all, without a final newline."""
    return (
        "{\n"
        '\t"service": {\n'
        f'\t\t"namespace": {json.dumps(check.namespace)},\n'
        f'\t\t"name": {json.dumps(check.name)}\n'
        "\t},\n"
        f'\t"localEndpoints": {count},\n'
        f'\t"serviceProxyHealthy": {"true" if healthy else "false"}\n'
        "}"
    ).encode()


def answer(check: HealthCheck, count: int, healthy: bool, *, head_only: bool = False) -> bytes:
    """The whole HTTP/1.1 response to one probe."""
    status = "200 OK" if count and healthy else "503 Service Unavailable"
    content = body(check, count, healthy)
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"X-Load-Balancing-Endpoint-Weight: {count}\r\n"
        f"Content-Length: {len(content)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode()
    return head if head_only else head + content


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 15\r\nConnection: close\r\n\r\n400 Bad Request"
)


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The request line and headers; None when they are malformed or too long."""
    try:
        async with asyncio.timeout(_REQUEST_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        return None
    return head


class HealthCheckServers:
    """One listener per health check, kept equal to the wanted set.

    ``count(namespace, name)`` and ``healthy()`` are asked at every probe, so an answer is
    never staler than the agent's state.
    """

    def __init__(
        self, host: str, count: Callable[[str, str], int], healthy: Callable[[], bool]
    ) -> None:
        self.host = host
        self._count = count
        self._healthy = healthy
        self._servers: dict[int, tuple[HealthCheck, asyncio.Server]] = {}
        self._wanted: dict[int, HealthCheck] = {}
        #: Checks that could not listen (logged once each until they do).
        self.failed: dict[int, HealthCheck] = {}

    @property
    def serving(self) -> dict[int, HealthCheck]:
        return {port: check for port, (check, _) in self._servers.items()}

    async def sync(self, checks: Mapping[int, HealthCheck]) -> None:
        self._wanted = dict(checks)
        for port, (check, server) in list(self._servers.items()):
            if checks.get(port) != check:
                del self._servers[port]
                server.close()
                await server.wait_closed()
                service = f"{check.namespace}/{check.name}"
                log.info("health_check_closed", service=service, port=port)
        for port in list(self.failed):
            if checks.get(port) != self.failed[port]:
                del self.failed[port]
        for port, check in sorted(checks.items()):
            if port not in self._servers:
                await self._open(check)

    async def _open(self, check: HealthCheck) -> None:
        try:
            server = await asyncio.start_server(
                functools.partial(self._probe, check),
                self.host,
                check.port,
                reuse_address=True,
                limit=_MAX_REQUEST_HEAD,
            )
        except OSError as exc:
            if self.failed.get(check.port) != check:
                log.warning(
                    "health_check_not_listening",
                    service=f"{check.namespace}/{check.name}",
                    address=f"{self.host}:{check.port}",
                    error=exc.strerror or str(exc),
                    retry_seconds=RETRY_INTERVAL,
                )
            self.failed[check.port] = check
            return
        self.failed.pop(check.port, None)
        self._servers[check.port] = (check, server)
        log.info(
            "health_check_listening",
            service=f"{check.namespace}/{check.name}",
            address=f"{self.host}:{check.port}",
        )

    async def _probe(
        self, check: HealthCheck, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await _read_head(reader)
            request_line = head.split(b"\r\n", 1)[0].split(b" ") if head else []
            if len(request_line) != 3 or not request_line[2].startswith(b"HTTP/1."):
                writer.write(_BAD_REQUEST)
            else:
                count = self._count(check.namespace, check.name)
                writer.write(
                    answer(check, count, self._healthy(), head_only=request_line[0] == b"HEAD")
                )
            await writer.drain()
        except ConnectionError:
            pass  # the prober went away; nothing to answer
        finally:
            writer.close()

    async def retry_failed(self) -> None:
        """Try the ports that were busy again, every :data:`RETRY_INTERVAL` seconds."""
        while True:
            await asyncio.sleep(RETRY_INTERVAL)
            if self.failed:
                await self.sync(self._wanted)

    async def close(self) -> None:
        await self.sync({})
