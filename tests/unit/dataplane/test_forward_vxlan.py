"""L2 and VXLAN: a pod on another node, through the BVI, the bridge domain and the tunnel.

VPP behaviour encoded: a route via the BVI resolves the next hop's MAC by the BVI's neighbour
entry; the BVI sends into its bridge domain where ``l2-fwd`` picks the member by the L2 FIB
(src/vnet/l2/l2_fwd.c); a VXLAN member encapsulates (``vxlan4-encap``) with the tunnel's end
points and VNI, the outer packet is routed in the encap VRF; on the peer, ``vxlan4-input``
decapsulates on the tunnel with the mirrored end points and VNI, into its bridge domain, where
the frame to the peer's BVI MAC is routed by ip4 on the BVI.
"""

from __future__ import annotations

import attrs
from dataplane_nodes import node

from contivpp.dataplane import TCP, Dataplane, Packet
from contivpp.dataplane.snapshot import AclBinding, AclState
from contivpp.model.acl import AclRule


def test_pod_to_pod_across_nodes_follows_the_tunnel_into_the_peer() -> None:
    dp = Dataplane([node(1), node(2)], pods={"node2": {"tap-b": "default/b2"}})
    out = dp.send(Packet("10.1.1.2", "10.1.2.3", TCP, 40000, 80), node="node1")
    assert (out.result, out.node, out.interface, out.pod) == (
        "delivered",
        "node2",
        "tap-b",
        "default/b2",
    )
    assert [(h.node, h.stage, h.interface) for h in out.hops] == [
        ("node1", "ingress", "tap-a"),
        ("node1", "fib", "vxlanBVI"),
        ("node1", "neighbor", "vxlanBVI"),
        ("node1", "l2", "vxlan2"),
        ("node1", "vxlan", "vxlan2"),
        ("node2", "vxlan", "vxlan1"),
        ("node2", "l2", "vxlanBVI"),
        ("node2", "ingress", "vxlanBVI"),
        ("node2", "fib", "tap-b"),
        ("node2", "deliver", "tap-b"),
    ]
    assert out.hops[4].reason == "encapsulated in VXLAN VNI 10 192.168.16.1 -> 192.168.16.2"
    assert out.hops[5].reason == "decapsulated on vxlan1 into bridge domain 1"
    reply = dp.reply(out)
    assert (reply.result, reply.node, reply.interface) == ("delivered", "node1", "tap-a")


def test_without_the_peer_snapshot_the_packet_leaves_over_vxlan() -> None:
    out = Dataplane(node(1)).send(Packet("10.1.1.2", "10.1.2.3", TCP, 40000, 80))
    assert (out.result, out.stage, out.interface) == ("left", "vxlan", "vxlan2")
    assert out.reason == "to 192.168.16.2 over VXLAN (no snapshot of that node)"


def test_a_different_vni_on_the_peer_does_not_decapsulate() -> None:
    peer = node(2)
    peer = attrs.evolve(
        peer,
        interfaces=tuple(
            attrs.evolve(i, vxlan_vni=11) if i.kind == "vxlan" else i for i in peer.interfaces
        ),
    )
    out = Dataplane([node(1), peer]).send(Packet("10.1.1.2", "10.1.2.3", TCP, 1, 80), node="node1")
    assert out.result == "left"


def test_missing_l2fib_entry_drops_in_the_bridge_domain() -> None:
    snap = attrs.evolve(node(1), l2fib=())
    out = Dataplane(snap).send(Packet("10.1.1.2", "10.1.2.3", TCP, 1, 80))
    assert (out.result, out.stage) == ("dropped", "l2")
    assert out.reason == (
        "bridge domain 1: no L2 FIB entry for 12:2b:00:00:00:02: unknown unicast dropped"
    )


def test_the_destination_node_enforces_its_output_acl_on_the_pod_tap() -> None:
    deny = AclState(0, "deny-all", (AclRule("deny"),))
    peer = node(2, acls=(deny,), bindings=(AclBinding(5, output=(0,)),))
    out = Dataplane([node(1), peer]).send(Packet("10.1.1.2", "10.1.2.3", TCP, 1, 80), node="node1")
    assert (out.result, out.node, out.stage, out.interface) == (
        "dropped",
        "node2",
        "acl-out",
        "tap-b",
    )
