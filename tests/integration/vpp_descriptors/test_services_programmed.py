"""Services rendered by ``renderers/services.py``, programmed into the simulator by the real
descriptors, read back over the binary API and evaluated for reachability.

The node is ``examples/three-pods.jsonl`` (node-1 of two, pods in 10.1.1.0/24, node-2's pods in
10.1.2.0/24 behind VXLAN). The evaluator here answers "where does a TCP packet to this address
and port go?" from what VPP reports (static / LB / address-only mappings first, as NAT44-ED's
out2in path does, then the main VRF's FIB), and "does the host link's ingress ACL list let
this source through?" from the ACL dumps. Expected answers come from the services' spec.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import attrs
import pytest
from vppdesc_helpers import SimHandle, commit_ok

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.log import read_lines
from contivpp.model import keys
from contivpp.reconcile import Key, ResyncKind, Scheduler
from contivpp.renderers.services import (
    nat_pod_values,
    render_nat_node,
    render_service,
    service_context,
    source_ranges_acl_name,
    source_ranges_binding,
)
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient

EXAMPLE = Path(__file__).parents[3] / "examples" / "three-pods.jsonl"
NO_INDEX = 0xFFFFFFFF
TCP = 6
TWICE_NAT, SELF_TWICE_NAT = 0x01, 0x02
NODES = [
    k8s.Node("node-1", (k8s.NodeAddress("InternalIP", "10.20.0.11"),)),
    k8s.Node("node-2", (k8s.NodeAddress("InternalIP", "10.20.0.12"),)),
]


def port(name: str = "http", number: int = 80, node_port: int = 0) -> k8s.ServicePort:
    return k8s.ServicePort(name, "TCP", number, name, node_port)


def slice_of(service: str, *endpoints: k8s.Endpoint, number: int = 8080) -> k8s.EndpointSlice:
    return k8s.EndpointSlice(
        "default",
        f"{service}-{number}",
        service,
        "IPv4",
        endpoints,
        (k8s.EndpointPort("http", number, "TCP"),),
    )


def at(ip: str, node: str = "node-1", **conditions: bool) -> k8s.Endpoint:
    return k8s.Endpoint((ip,), node_name=node, **conditions)


SERVICES: list[tuple[k8s.Service, list[k8s.EndpointSlice]]] = [
    (
        k8s.Service(
            "default",
            "web",
            type="NodePort",
            cluster_ip="10.96.0.10",
            ports=(port(node_port=30080),),
            session_affinity="ClientIP",
            session_affinity_timeout=600,
        ),
        [slice_of("web", at("10.1.1.2"), at("10.1.2.2", "node-2"), at("10.1.2.3", "node-2"))],
    ),
    (
        k8s.Service(
            "default",
            "edge",
            type="LoadBalancer",
            cluster_ip="10.96.0.11",
            external_ips=("198.51.100.1",),
            lb_ingress_ips=("203.0.113.7",),
            lb_source_ranges=("192.0.2.0/24",),
            external_traffic_policy="Local",
            ports=(port(node_port=30081),),
        ),
        [slice_of("edge", at("10.1.1.3"), at("10.1.2.4", "node-2"))],
    ),
    (
        k8s.Service(
            "default",
            "near",
            cluster_ip="10.96.0.12",
            internal_traffic_policy="Local",
            ports=(port(),),
        ),
        [slice_of("near", at("10.1.2.5", "node-2"))],
    ),
    (k8s.Service("default", "empty", cluster_ip="10.96.0.13", ports=(port(),)), []),
    (
        k8s.Service("default", "rolling", cluster_ip="10.96.0.14", ports=(port(),)),
        [
            slice_of(
                "rolling",
                at("10.1.1.4", ready=False, serving=True, terminating=True),
                at("10.1.2.6", "node-2", ready=False),
            )
        ],
    ),
    (
        k8s.Service("default", "named", cluster_ip="10.96.0.15", ports=(port(),)),
        [
            slice_of("named", at("10.1.1.5"), number=8080),
            slice_of("named", at("10.1.2.7", "node-2"), number=9090),
        ],
    ),
]


async def desired_set() -> dict[Key, object]:
    result = await replay(read_lines(iter(EXAMPLE.read_text().splitlines())))
    desired: dict[Key, object] = {k: v for k, v in result.desired.items() if k.startswith("vpp/")}
    ctx = service_context(AgentConfig("node-1"), 1, NODES)
    desired.update(render_nat_node(ctx))
    for key in list(desired):
        name = key.removeprefix(keys.INTERFACE_PREFIX)
        if key.startswith(keys.INTERFACE_PREFIX + "tap-") and name != "tap-vpp2":
            desired.update(nat_pod_values(name))
    for service, slices in SERVICES:
        desired.update(render_service(ctx, service, slices))
    desired.update(source_ranges_binding([source_ranges_acl_name(SERVICES[1][0])]))
    return desired


@attrs.frozen
class Programmed:
    """What VPP reports, in the shape the evaluator needs."""

    mappings: dict[tuple[str, int], tuple[int, frozenset[str]]]  # (ip, port) -> flags, backends
    address_only: dict[str, str]
    main_fib: list[tuple[ipaddress.IPv4Network, str]]  # (prefix, "drop" / "reject" / "routed")
    pod_fib: list[tuple[ipaddress.IPv4Network, int]]  # (prefix, out sw_if_index)
    host_acls: list[list[dict[str, Any]]]  # the host link's ingress ACLs' rules, in order

    def where(self, ip: str, dport: int) -> str | frozenset[str]:
        """Backends ("ip:port") a TCP packet to ip:dport is translated to, else "drop",
        "reject" (ICMP unreachable) or "routed" as the main VRF's FIB decides (most specific
        prefix)."""
        if (ip, dport) in self.mappings:
            return self.mappings[(ip, dport)][1]
        if ip in self.address_only:
            return frozenset({self.address_only[ip]})
        address = ipaddress.IPv4Address(ip)
        matches = [(net, verdict) for net, verdict in self.main_fib if address in net]
        return max(matches, key=lambda m: m[0].prefixlen)[1]

    def admitted(self, src: str, dst: str, dport: int) -> bool:
        """The first rule of the host link's ingress ACL list that matches decides."""
        for rules in self.host_acls:
            for rule in rules:
                src_net = ipaddress.ip_network(str(rule["src_prefix"]))
                dst_net = ipaddress.ip_network(str(rule["dst_prefix"]))
                low, high = rule["dstport_or_icmpcode_first"], rule["dstport_or_icmpcode_last"]
                if (
                    ipaddress.ip_address(src) in src_net
                    and ipaddress.ip_address(dst) in dst_net
                    and rule["proto"] in (0, TCP)
                    and (rule["proto"] == 0 or low <= dport <= high)
                ):
                    return bool(rule["is_permit"])
        return False


async def read_back(vpp: VPPClient) -> Programmed:
    mappings: dict[tuple[str, int], tuple[int, frozenset[str]]] = {}
    address_only: dict[str, str] = {}
    for d in await vpp.dump("nat44_static_mapping_dump"):
        if d.protocol == 0:
            address_only[str(d.external_ip_address)] = str(d.local_ip_address)
        elif d.protocol == TCP:
            backend = f"{d.local_ip_address}:{d.local_port}"
            mappings[(str(d.external_ip_address), d.external_port)] = (
                int(d.flags),
                frozenset({backend}),
            )
    for d in await vpp.dump("nat44_lb_static_mapping_dump"):
        backends = frozenset(f"{x['addr']}:{x['port']}" for x in d.locals)
        mappings[(str(d.external_addr), d.external_port)] = (int(d.flags), backends)
    main_fib = []
    for d in await vpp.dump("ip_route_dump", table={"table_id": 0, "is_ip6": False}):
        types = {p["type"] for p in d.route["paths"]}
        # FIB_API_PATH_TYPE_DROP = 2, FIB_API_PATH_TYPE_ICMP_UNREACH = 5
        verdict = "drop" if 2 in types else "reject" if 5 in types else "routed"
        main_fib.append((ipaddress.IPv4Network(str(d.route["prefix"])), verdict))
    pod_fib = []
    for d in await vpp.dump("ip_route_dump", table={"table_id": 1, "is_ip6": False}):
        for p in d.route["paths"]:
            pod_fib.append((ipaddress.IPv4Network(str(d.route["prefix"])), int(p["sw_if_index"])))
    interfaces = {d.tag: int(d.sw_if_index) for d in await vpp.dump("sw_interface_dump") if d.tag}
    acls = {int(d.acl_index): list(d.r) for d in await vpp.dump("acl_dump", acl_index=NO_INDEX)}
    (binding,) = await vpp.dump("acl_interface_list_dump", sw_if_index=interfaces["tap-vpp2"])
    host_acls = [acls[i] for i in list(binding.acls)[: binding.n_input]]
    return Programmed(mappings, address_only, main_fib, pod_fib, host_acls)


@pytest.fixture
async def programmed(sched: Scheduler, vpp: VPPClient) -> Programmed:
    desired = await desired_set()
    await commit_ok(sched, desired)
    # Everything reads back as rendered: a full resync finds nothing to do.
    resync = await sched.resync(ResyncKind.FULL, desired=desired, trigger="test")
    assert (resync.ok, resync.calls, dict(resync.retrieve_errors)) == (True, 0, {})
    return await read_back(vpp)


async def test_cluster_ip_node_port_and_hairpin(programmed: Programmed) -> None:
    web = frozenset({"10.1.1.2:8080", "10.1.2.2:8080", "10.1.2.3:8080"})
    assert programmed.where("10.96.0.10", 80) == web
    assert programmed.mappings[("10.96.0.10", 80)][0] & SELF_TWICE_NAT  # hairpin only
    # NodePort on both nodes' addresses and this node's VPP addresses, masqueraded.
    for ip in ("10.20.0.11", "10.20.0.12", "192.168.16.1", "172.30.1.1"):
        assert programmed.where(ip, 30080) == web
        assert programmed.mappings[(ip, 30080)][0] & TWICE_NAT
    # No such port: rejected at once, as kube-proxy rejects invalid ports of ClusterIPs.
    assert programmed.where("10.96.0.10", 81) == "reject"
    assert programmed.where("10.96.0.99", 80) == "drop"  # an unallocated IP: never leaks out


async def test_backend_on_another_node_is_reached_over_vxlan(
    programmed: Programmed, vpp: VPPClient
) -> None:
    bvi = {d.tag: int(d.sw_if_index) for d in await vpp.dump("sw_interface_dump")}["vxlanBVI"]
    backend = ipaddress.IPv4Address("10.1.2.2")
    matches = [(net, idx) for net, idx in programmed.pod_fib if backend in net]
    assert max(matches, key=lambda m: m[0].prefixlen) == (
        ipaddress.IPv4Network("10.1.2.0/24"),
        bvi,
    )


async def test_external_policy_local_and_source_ranges(programmed: Programmed) -> None:
    assert programmed.where("10.96.0.11", 80) == frozenset({"10.1.1.3:8080", "10.1.2.4:8080"})
    for ip, dport in (("198.51.100.1", 80), ("203.0.113.7", 80), ("10.20.0.12", 30081)):
        assert programmed.where(ip, dport) == frozenset({"10.1.1.3:8080"})
        assert not programmed.mappings[(ip, dport)][0] & TWICE_NAT  # client source kept
    assert programmed.admitted("192.0.2.9", "203.0.113.7", 80)
    assert not programmed.admitted("198.51.100.9", "203.0.113.7", 80)
    assert programmed.admitted("198.51.100.9", "198.51.100.1", 80)  # not the LB IP: no filter


async def test_internal_policy_local_and_no_endpoints_never_leak(programmed: Programmed) -> None:
    assert programmed.where("10.96.0.12", 80) == "drop"  # endpoints only elsewhere
    assert programmed.where("10.96.0.13", 80) == "reject"  # no endpoint at all
    assert programmed.where("10.96.0.99", 80) == "drop"  # an unallocated service IP
    # A node address is never closed: other ports of it still reach the host.
    assert programmed.where("10.20.0.11", 22) == "routed"


async def test_terminating_and_named_target_ports(programmed: Programmed) -> None:
    assert programmed.where("10.96.0.14", 80) == frozenset({"10.1.1.4:8080"})
    assert programmed.where("10.96.0.15", 80) == frozenset({"10.1.1.5:8080", "10.1.2.7:9090"})


async def test_affinity_and_an_endpoint_removal_touch_one_mapping(
    programmed: Programmed, sim: SimHandle, sched: Scheduler, vpp: VPPClient
) -> None:
    # VPP's LB dump does not report affinity; the simulator's own state shows what was set.
    lbs = {(m["external"], m["external_port"]): m for m in sim.state()["nat"]["lb_mappings"]}
    assert lbs[("10.96.0.10", 80)]["affinity"] == 600
    ctx = service_context(AgentConfig("node-1"), 1, NODES)
    service, _ = SERVICES[0]
    before = render_service(ctx, service, SERVICES[0][1])
    after = render_service(
        ctx, service, [slice_of("web", at("10.1.1.2"), at("10.1.2.2", "node-2"))]
    )
    delta = {k: v for k, v in after.items() if before.get(k) != v}
    record = await commit_ok(sched, delta)
    assert len(delta) == 5  # the ClusterIP and four NodePort frontends
    assert record.calls == 5  # one backend removed in place per frontend
    readback = await read_back(vpp)
    assert readback.where("10.96.0.10", 80) == frozenset({"10.1.1.2:8080", "10.1.2.2:8080"})
