"""Renderers: node config, VXLAN mesh, pod wiring. Pure functions checked with tables."""

from __future__ import annotations

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import CNIAdd, Event, K8sUpserted, NodeIDAllocated, NodeIDReleased
from contivpp.model import keys
from contivpp.model.linux import LinuxRoute
from contivpp.model.vpp import BridgeDomain, Interface, L2FibEntry, Neighbor, Route
from contivpp.renderers import render
from contivpp.renderers.node import bvi_mac, host_tap_mac
from contivpp.renderers.pods import pod_macs, tap_name


def state_after(*events: Event) -> ClusterState:
    state = initial_state(AgentConfig("node-1"))
    for event in events:
        state = fold(state, event)
    return state


def test_no_node_id_no_config() -> None:
    assert render(state_after(CNIAdd("c", "/n", "eth0", "d", "p"))) == {}


def test_single_node_config() -> None:
    desired = render(state_after(NodeIDAllocated("node-1", 3)))
    gw = desired[keys.interface("podGwLoop")]
    assert isinstance(gw, Interface) and gw.vrf == 1 and gw.ip_addresses == ("10.1.3.1/24",)
    host = desired[keys.interface("tap-vpp2")]
    assert isinstance(host, Interface) and host.tap is not None
    assert host.ip_addresses == ("172.30.3.1/24",) and host.vrf == 0
    assert (host.tap.host_if_name, host.tap.host_ip4_prefix) == ("vpp1", "172.30.3.2/24")
    assert host.mac == host_tap_mac(3) == "34:3c:00:00:00:03"
    routes = {
        (r.vrf, r.dst, r.next_hop_vrf, r.drop) for r in desired.values() if isinstance(r, Route)
    }
    assert routes == {
        (1, "0.0.0.0/0", 0, False),
        (1, "172.30.3.0/24", 0, False),
        (0, "10.1.0.0/16", 1, False),
        (0, "172.30.0.0/16", 1, False),
        (1, "10.1.0.0/16", None, True),
        (1, "172.30.0.0/16", None, True),
        # the service CIDR: a service IP no NAT mapping translated is dropped, not routed out
        (0, "10.96.0.0/12", None, True),
    }
    host_route = desired[keys.linux_route("", "10.1.0.0/16")]
    assert host_route == LinuxRoute(
        "", "vpp1", "10.1.0.0/16", gateway="172.30.3.1", after=(keys.interface("tap-vpp2"),)
    )
    bd = desired[keys.bridge_domain("vxlanBD")]
    assert isinstance(bd, BridgeDomain) and [m.interface for m in bd.members] == ["vxlanBVI"]
    assert not bd.flood and not bd.learn and not bd.uu_flood and bd.forward


def test_route_service_cidr_to_vpp_adds_a_host_route_via_the_host_link() -> None:
    def host_routes(config: AgentConfig) -> set[str]:
        state = fold(initial_state(config), NodeIDAllocated("node-1", 3))
        return {r.dst for r in render(state).values() if isinstance(r, LinuxRoute)}

    assert host_routes(AgentConfig("node-1")) == {"10.1.0.0/16", "172.30.0.0/16"}
    config = AgentConfig("node-1", route_service_cidr_to_vpp=True)
    state = fold(initial_state(config), NodeIDAllocated("node-1", 3))
    assert render(state)[keys.linux_route("", "10.96.0.0/12")] == LinuxRoute(
        "", "vpp1", "10.96.0.0/12", gateway="172.30.3.1", after=(keys.interface("tap-vpp2"),)
    )


def test_vxlan_mesh_follows_other_nodes() -> None:
    node2 = k8s.Node("node-2", (k8s.NodeAddress("InternalIP", "10.20.0.12"),))
    state = state_after(
        NodeIDAllocated("node-1", 1),
        NodeIDAllocated("node-2", 2, ("192.168.16.2/24",)),
        K8sUpserted(node2),
        NodeIDAllocated("node-5", 5),
    )
    desired = render(state)
    tunnel = desired[keys.interface("vxlan2")]
    assert isinstance(tunnel, Interface) and tunnel.vxlan is not None
    assert (tunnel.vxlan.src, tunnel.vxlan.dst, tunnel.vxlan.vni) == (
        "192.168.16.1",
        "192.168.16.2",
        10,
    )
    assert desired[keys.neighbor("vxlanBVI", "192.168.30.5")] == Neighbor(
        "vxlanBVI", "192.168.30.5", bvi_mac(5)
    )
    assert desired[keys.l2fib("vxlanBD", bvi_mac(2))] == L2FibEntry(
        "vxlanBD", 1, bvi_mac(2), "vxlan2"
    )
    pod_vrf_routes = {
        (r.dst, r.next_hop)
        for r in desired.values()
        if isinstance(r, Route) and r.out_interface == "vxlanBVI"
    }
    assert pod_vrf_routes == {
        ("10.1.2.0/24", "192.168.30.2"),
        ("172.30.2.0/24", "192.168.30.2"),
        ("10.20.0.12/32", "192.168.30.2"),
        ("10.1.5.0/24", "192.168.30.5"),
        ("172.30.5.0/24", "192.168.30.5"),
    }
    bd = desired[keys.bridge_domain("vxlanBD")]
    assert isinstance(bd, BridgeDomain)
    assert [(m.interface, m.split_horizon_group) for m in bd.members] == [
        ("vxlanBVI", 0),
        ("vxlan2", 1),
        ("vxlan5", 1),
    ]
    # node-5 leaves: everything about it goes, node-2 stays
    after = render(fold(state, NodeIDReleased("node-5", 5)))
    assert not [k for k in after if "vxlan5" in k or "192.168.30.5" in k or "10.1.5.0" in k]
    assert keys.interface("vxlan2") in after


def test_pod_wiring() -> None:
    state = state_after(
        NodeIDAllocated("node-1", 1), CNIAdd("abc", "/var/run/netns/p", "eth0", "d", "p")
    )
    desired = render(state)
    pod_mac, vpp_mac = pod_macs("abc", "eth0")
    tap = desired[keys.interface("tap-abc")]
    assert isinstance(tap, Interface) and tap.tap is not None
    assert (tap.vrf, tap.unnumbered_to, tap.mac) == (1, "podGwLoop", vpp_mac)
    assert (tap.tap.host_if_name, tap.tap.host_namespace) == ("eth0", "/var/run/netns/p")
    assert (tap.tap.host_ip4_prefix, tap.tap.host_mac) == ("10.1.1.2/32", pod_mac)
    assert desired[keys.route(1, "10.1.1.2/32", "10.1.1.2", "tap-abc")] == Route(
        1, "10.1.1.2/32", "10.1.1.2", "tap-abc"
    )
    assert desired[keys.neighbor("tap-abc", "10.1.1.2")] == Neighbor("tap-abc", "10.1.1.2", pod_mac)
    link = desired[keys.linux_route("/var/run/netns/p", "10.1.1.1/32")]
    default = desired[keys.linux_route("/var/run/netns/p", "0.0.0.0/0")]
    assert isinstance(link, LinuxRoute) and isinstance(default, LinuxRoute)
    assert link.gateway == "" and default.gateway == "10.1.1.1"
    assert default.after == (keys.linux_route("/var/run/netns/p", "10.1.1.1/32"),)


def test_macs_and_names_are_stable_and_distinct() -> None:
    assert pod_macs("abc", "eth0") == pod_macs("abc", "eth0")
    pod_mac, vpp_mac = pod_macs("abc", "eth0")
    assert pod_mac != vpp_mac and pod_mac.startswith("02:fe:")
    long_a, long_b = "a" * 63 + "1", "a" * 63 + "2"
    assert tap_name(long_a) != tap_name(long_b)
    assert len(tap_name(long_a)) <= 63


def test_render_is_deterministic() -> None:
    events: list[Event] = [NodeIDAllocated("node-1", 1), NodeIDAllocated("node-3", 3)]
    events += [CNIAdd(f"c{i}", f"/n/{i}", "eth0", "d", f"p{i}") for i in range(5)]
    a, b = render(state_after(*events)), render(state_after(*events))
    assert a == b and list(a) == list(b) == sorted(a)
