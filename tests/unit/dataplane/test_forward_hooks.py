"""What the model offers a forwarder carrying real frames (the simulator's).

- a delivered packet says which next hop and MAC the frame goes to (``ip4-rewrite`` uses the
  adjacency's MAC: the neighbour entry; none means VPP would ARP first);
- VPP's own packets (echo replies, ICMP errors) skip the input features and start at
  ``ip4-lookup`` in the VRF of the interface they answer on;
- a frame decapsulated from VXLAN enters the tunnel's bridge domain (``vxlan4-input`` then
  ``l2-input``) and reaches the BVI when it is for the BVI's MAC;
- a new snapshot (configuration changed) keeps the sessions earlier packets created, as VPP's
  session tables do.
"""

from __future__ import annotations

import pytest
from dataplane_nodes import TAP_B, TUNNEL, bvi_mac, node

from contivpp.dataplane import ICMP, TCP, Dataplane, Packet
from contivpp.dataplane.snapshot import AclBinding, AclState
from contivpp.errors import InputError
from contivpp.model.acl import AclRule


def test_delivery_names_the_next_hop_and_its_mac() -> None:
    out = Dataplane(node(1)).send(Packet("10.1.1.2", "10.1.1.3", TCP, 1, 80))
    assert (out.interface, out.next_hop, out.mac) == ("tap-b", "10.1.1.3", "02:fe:00:00:01:a5")
    # towards node 2 the frame is for node 2's BVI, sent out of the tunnel
    remote = Dataplane(node(1)).send(Packet("10.1.1.2", "10.1.2.3", TCP, 1, 80))
    assert (remote.result, remote.stage, remote.mac) == ("left", "vxlan", bvi_mac(2))


def test_vpp_originated_packet_starts_at_the_lookup() -> None:
    echo_reply = Packet("10.1.1.1", "10.1.1.3", ICMP, 7, 0, tcp_flags=0, icmp_type=0)
    out = Dataplane(node(1)).originate(echo_reply, vrf=1)
    assert out.delivered and out.interface == "tap-b"
    assert [h.stage for h in out.hops] == ["ingress", "fib", "deliver"]


def test_decapsulated_frame_reaches_the_pod_through_the_bvi() -> None:
    dp = Dataplane(node(2))
    out = dp.decapsulated(Packet("10.1.1.2", "10.1.2.3", TCP, 1, 80), tunnel=TUNNEL,
                          mac=bvi_mac(2))  # fmt: skip
    assert out.delivered and (out.node, out.interface) == ("node2", "tap-b")
    assert [h.stage for h in out.hops][:3] == ["vxlan", "l2", "ingress"]
    with pytest.raises(InputError, match="tunnel 5: no VXLAN interface"):
        dp.decapsulated(Packet("10.1.1.2", "10.1.2.3"), tunnel=TAP_B, mac=bvi_mac(2))


def test_a_new_snapshot_keeps_the_sessions() -> None:
    reflect = AclState(0, "reflect", (AclRule("reflect"),))
    deny = AclState(1, "deny-all", (AclRule("deny"),))
    isolated = node(1, acls=(reflect, deny), bindings=(AclBinding(TAP_B, input=(0,), output=(1,)),))
    dp = Dataplane(isolated)
    request = dp.send(Packet("10.1.1.3", "10.1.1.2", TCP, 5000, 80))
    dp.replace_snapshot(node(1, acls=(reflect, deny, AclState(2, "unused", ())),
                             bindings=isolated.acl_bindings))  # fmt: skip
    assert dp.node("node1").acl(2) is not None
    assert dp.reply(request).delivered  # the reflect session survived the new snapshot
