"""FIB stage: longest prefix match, special routes, inter-VRF lookup, ECMP, local delivery.

VPP behaviour encoded (src/vnet/fib/, src/vnet/ip/ip4_forward.c): ``ip4-lookup`` takes the most
specific prefix; a drop path drops (``ip4-drop``), ICMP-unreachable / -prohibit paths answer
with ICMP (``ip4-icmp-error``: the client is told, "rejected"), a local (receive) path hands
the packet to VPP itself, a path without interface or next hop looks the packet up again in
its table; a load balance spreads flows over its paths by the flow hash, one flow one path.
"""

from __future__ import annotations

import attrs
import pytest
from dataplane_nodes import TAP_A, TAP_B, TAP_C, node, pod_ip

from contivpp.dataplane import ICMP, TCP, UDP, Dataplane, Packet
from contivpp.dataplane.forward import longest_match
from contivpp.dataplane.snapshot import FibEntry, FibPath
from contivpp.errors import InputError


def test_pod_to_pod_on_one_node_is_delivered_to_the_destination_tap() -> None:
    dp = Dataplane(node(1), pods={"node1": {"tap-b": "default/b"}})
    out = dp.send(Packet("10.1.1.2", "10.1.1.3", TCP, 40000, 80))
    assert out.result == "delivered"
    assert (out.interface, out.sw_if_index, out.pod) == ("tap-b", TAP_B, "default/b")
    assert [(h.stage, h.verdict, h.interface) for h in out.hops] == [
        ("ingress", "pass", "tap-a"),
        ("fib", "pass", "tap-b"),
        ("deliver", "deliver", "tap-b"),
    ]
    assert out.hops[1].reason == "VRF 1 10.1.1.3/32 (api): via 10.1.1.3 out tap-b"


def test_longest_prefix_wins_over_a_covering_drop() -> None:
    entries = node(1).entries(1)
    assert longest_match(entries, "10.1.1.4") is not None
    assert longest_match(entries, "10.1.1.4").prefix == "10.1.1.4/32"  # type: ignore[union-attr]
    assert longest_match(entries, "10.1.7.9").prefix == "10.1.0.0/16"  # type: ignore[union-attr]
    assert longest_match(entries, "8.8.8.8").prefix == "0.0.0.0/0"  # type: ignore[union-attr]


def test_drop_route_drops_with_the_prefix_in_the_reason() -> None:
    # 10.1.7.0/24 belongs to no node: the pod VRF's 10.1.0.0/16 drop catches it.
    out = Dataplane(node(1)).send(Packet("10.1.1.2", "10.1.7.9", TCP, 40000, 80))
    assert (out.result, out.stage) == ("dropped", "fib")
    assert out.reason == "VRF 1 10.1.0.0/16 (api): drop route"


@pytest.mark.parametrize(
    ("kind", "verb"), [("icmp-unreachable", "unreachable"), ("icmp-prohibit", "prohibit")]
)
def test_icmp_special_routes_reject(kind: str, verb: str) -> None:
    snap = node(1, extra_fib=(FibEntry(1, "10.96.0.10/32", (FibPath(kind),)),))
    out = Dataplane(snap).send(Packet("10.1.1.2", "10.96.0.10", TCP, 40000, 80))
    assert (out.result, out.stage) == ("rejected", "fib")
    assert out.reason == f"VRF 1 10.96.0.10/32 (api): {kind} route, VPP answers with ICMP {verb}"


def test_lookup_in_other_table_then_default_drop_of_main_vrf() -> None:
    # Pod VRF default -> main VRF, whose default route (VPP's own) drops.
    out = Dataplane(node(1)).send(Packet("10.1.1.2", "8.8.8.8", UDP, 40000, 53))
    assert [h.reason for h in out.hops if h.stage == "fib"] == [
        "VRF 1 0.0.0.0/0 (api): lookup in VRF 0",
        "VRF 0 0.0.0.0/0 (default-route): drop route",
    ]
    assert out.result == "dropped"


def test_local_address_is_delivered_to_vpp_itself() -> None:
    out = Dataplane(node(1)).send(Packet("10.1.1.2", "10.1.1.1", ICMP, 7))
    assert (out.result, out.stage, out.interface) == ("delivered", "local", "podGwLoop")
    with pytest.raises(InputError, match="delivered to VPP itself"):
        Dataplane(node(1)).reply(out)


def test_ecmp_is_deterministic_per_flow_and_uses_every_path() -> None:
    # 10.50.0.0/16 over two pod TAPs with equal weight.
    ecmp = FibEntry(
        1,
        "10.50.0.0/16",
        (
            FibPath(sw_if_index=TAP_B, next_hop="10.1.1.3"),
            FibPath(sw_if_index=TAP_C, next_hop="10.1.1.4"),
        ),
    )
    dp = Dataplane(node(1, extra_fib=(ecmp,)))
    chosen = {}
    for sport in range(40000, 40032):
        out = dp.send(Packet("10.1.1.2", "10.50.1.1", TCP, sport, 80))
        again = dp.send(Packet("10.1.1.2", "10.50.1.1", TCP, sport, 80))
        assert out.interface == again.interface  # one flow, one path
        chosen[sport] = out.interface
        assert "(ECMP: 2 paths, 2 buckets, flow hash picks bucket " in out.hops[1].reason
    assert set(chosen.values()) == {"tap-b", "tap-c"}


def test_ecmp_uses_only_the_best_preference() -> None:
    backup = FibEntry(
        1,
        "10.50.0.0/16",
        (
            FibPath(sw_if_index=TAP_B, next_hop="10.1.1.3", preference=0),
            FibPath(sw_if_index=TAP_C, next_hop="10.1.1.4", preference=1),
        ),
    )
    dp = Dataplane(node(1, extra_fib=(backup,)))
    results = {dp.send(Packet("10.1.1.2", "10.50.1.1", TCP, p, 80)).interface for p in range(16)}
    assert results == {"tap-b"}


def test_admin_down_ingress_drops() -> None:
    snap = node(1)
    down = attrs.evolve(snap.interface(TAP_A), enabled=False)  # type: ignore[arg-type]
    snap = attrs.evolve(
        snap, interfaces=tuple(down if i.sw_if_index == TAP_A else i for i in snap.interfaces)
    )
    out = Dataplane(snap).send(Packet(pod_ip(1, "a"), pod_ip(1, "b"), TCP, 1, 2))
    assert (out.result, out.reason) == ("dropped", "tap-a is admin down")


def test_unknown_source_needs_an_ingress() -> None:
    with pytest.raises(InputError, match=r"source 172\.16\.0\.9: no interface of node 'node1'"):
        Dataplane(node(1)).send(Packet("172.16.0.9", "10.1.1.3", TCP, 1, 2))
    out = Dataplane(node(1)).send(Packet("172.16.0.9", "10.1.1.3", TCP, 1, 2), ingress="tap-a")
    assert out.delivered


def test_indexed_lookup_agrees_with_the_reference_scan() -> None:
    snap = node(1)
    for vrf in (0, 1):
        for last in range(0, 256, 3):
            for dst in (f"10.1.1.{last}", f"10.1.2.{last}", f"192.168.16.{last}", f"8.8.{last}.1"):
                assert snap.lookup(vrf, dst) == longest_match(snap.entries(vrf), dst)
