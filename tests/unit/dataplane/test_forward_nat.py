"""NAT44-ED stage: the classify, in2out and out2in paths, mappings and sessions.

VPP behaviour encoded (src/plugins/nat/nat44-ed/):
- ``nat44_ed_classify_node_fn_inline``: on an interface both inside and outside, a packet to a
  pool address or to the external address of a translating mapping goes out2in, else in2out.
- LB static mappings are balanced only by the out2in path (``snat_static_mapping_match`` with
  by_external). On an inside-only interface, in2out's hairpinning lookup
  (``nat44_ed_external_sm_lookup``) takes the LB mapping's ``local_addr``, which an LB mapping
  does not have: the packet is rewritten to 0.0.0.0:0 and dropped by 0.0.0.0/32.
- ``create_session_for_static_mapping_ed``: twice-NAT rewrites the source to a twice-NAT pool
  address always, self-twice-NAT only when the client is the chosen backend (hairpin).
- Out2in without a mapping: forwarding off drops (NO_TRANSLATION), on passes untranslated
  and registers a bypass session (``create_bypass_for_fwd`` in ``nat44_ed_out2in.c``) whose
  i2o flow carries the reply untranslated, also through an output-feature interface's in2out.
- Identity mappings are matched and leave the packet alone.
- Sessions: both flows of a session sit in the one flow hash, so the reply is translated back
  (source = the service address) by the fast path of whichever node sees it.
- LB affinity (``nat_affinity_find_and_lock``): the same client gets the same backend.
"""

from __future__ import annotations

import attrs
from dataplane_nodes import SERVICE_IP, TAP_A, TAP_B, TAP_C, lb_service, node, static_service

from contivpp.dataplane import TCP, Dataplane, Packet
from contivpp.dataplane.forward import TCP_ACK
from contivpp.dataplane.snapshot import (
    NatInterface,
    NatPool,
    NatSession,
    NatState,
    NatStaticMapping,
)

A, B, C = "10.1.1.2", "10.1.1.3", "10.1.1.4"


def test_lb_mapping_through_the_classify_path_reaches_a_backend_and_the_reply_returns() -> None:
    dp = Dataplane(node(1, nat=lb_service()))
    request, reply = dp.connect(Packet(A, SERVICE_IP, TCP, 40000, 80))
    assert request.delivered
    assert request.interface in ("tap-b", "tap-c")
    assert (request.packet.dst, request.packet.dport, request.packet.src) == (
        {"tap-b": B, "tap-c": C}[request.interface],
        8080,
        A,  # no twice-NAT: the backend sees the client
    )
    nat_hop = request.hops[1]
    assert (nat_hop.stage, nat_hop.verdict) == ("nat44", "translate")
    assert nat_hop.reason.startswith("out2in new session: LB mapping 10.96.0.10:80 -> ")
    assert reply is not None and reply.delivered
    assert (reply.interface, reply.packet.src, reply.packet.sport) == ("tap-a", SERVICE_IP, 80)
    assert reply.hops[1].reason.startswith("existing NAT session (out2in LB mapping")


def test_lb_mapping_on_an_inside_only_interface_goes_to_0_0_0_0() -> None:
    dp = Dataplane(node(1, nat=lb_service(inside_only=True)))
    out = dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80))
    assert (out.result, out.stage) == ("dropped", "fib")
    assert out.reason == "VRF 1 0.0.0.0/32 (special): drop route"
    assert (out.packet.dst, out.packet.dport) == ("0.0.0.0", 0)
    assert "which only the out2in path balances: rewritten to 0.0.0.0:0" in out.hops[1].reason


def test_backend_choice_follows_weights_and_is_stable() -> None:
    chosen = []
    for sport in range(40000, 40040):
        dp = Dataplane(node(1, nat=lb_service()))
        chosen.append(dp.send(Packet(A, SERVICE_IP, TCP, sport, 80)).interface)
    assert set(chosen) == {"tap-b", "tap-c"}
    again = [
        Dataplane(node(1, nat=lb_service())).send(Packet(A, SERVICE_IP, TCP, p, 80)).interface
        for p in range(40000, 40040)
    ]
    assert again == chosen


def test_affinity_keeps_the_client_on_one_backend() -> None:
    dp = Dataplane(node(1, nat=lb_service(affinity=10800)))
    first = dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80)).interface
    later = {dp.send(Packet(A, SERVICE_IP, TCP, p, 80)).interface for p in range(40001, 40030)}
    assert later == {first}
    # Without affinity the same client ports spread over both backends.
    plain = Dataplane(node(1, nat=lb_service()))
    assert {
        plain.send(Packet(A, SERVICE_IP, TCP, p, 80)).interface for p in range(40001, 40030)
    } == {
        "tap-b",
        "tap-c",
    }


def test_self_twice_nat_rewrites_the_source_only_on_hairpin() -> None:
    nat = NatState(
        enabled=True,
        forwarding=True,
        interfaces=tuple(NatInterface(i, inside=True, outside=True) for i in (TAP_A, TAP_B, TAP_C)),
        pools=(NatPool("10.99.0.1", "10.99.0.1", twice_nat=True),),
        static_mappings=(static_service(twice_nat="self"),),
    )
    dp = Dataplane(node(1, nat=nat))
    # Pod b reaches itself through the service: source becomes the twice-NAT address, so its
    # reply comes back through VPP instead of straight to itself.
    hairpin, reply = dp.connect(Packet(B, SERVICE_IP, TCP, 40000, 80))
    assert hairpin.delivered and hairpin.interface == "tap-b"
    assert (hairpin.packet.src, hairpin.packet.dst, hairpin.packet.dport) == ("10.99.0.1", B, 8080)
    assert "; self-twice-NAT source 10.99.0.1" in hairpin.hops[1].reason
    assert reply is not None and reply.delivered
    assert (reply.interface, reply.packet.src, reply.packet.dst) == ("tap-b", SERVICE_IP, B)
    # Pod a is not the backend: its source is kept.
    other = dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80))
    assert (other.interface, other.packet.src) == ("tap-b", A)


def test_twice_nat_rewrites_every_client() -> None:
    nat = attrs_nat(static_service(twice_nat="enabled"))
    out = Dataplane(node(1, nat=nat)).send(Packet(A, SERVICE_IP, TCP, 40000, 80))
    assert (out.packet.src, out.packet.dst) == ("10.99.0.1", B)


def test_twice_nat_without_a_twice_nat_pool_drops() -> None:
    nat = attrs_nat(static_service(twice_nat="enabled"), pools=())
    out = Dataplane(node(1, nat=nat)).send(Packet(A, SERVICE_IP, TCP, 40000, 80))
    assert (out.result, out.stage) == ("dropped", "nat44")
    assert out.reason.endswith("twice-NAT needs a twice-NAT pool address: dropped (OUT_OF_PORTS)")


def test_out2in_without_mapping_depends_on_forwarding() -> None:
    # tap-a outside only: a packet to pod b matches no mapping.
    off = NatState(enabled=True, forwarding=False, interfaces=(NatInterface(TAP_A, outside=True),))
    out = Dataplane(node(1, nat=off)).send(Packet(A, B, TCP, 40000, 80))
    assert (out.result, out.stage, out.interface) == ("dropped", "nat44", "tap-a")
    assert out.reason == "out2in: no session or mapping, forwarding off: dropped (NO_TRANSLATION)"
    on = NatState(enabled=True, forwarding=True, interfaces=(NatInterface(TAP_A, outside=True),))
    passed = Dataplane(node(1, nat=on)).send(Packet(A, B, TCP, 40000, 80))
    assert passed.delivered and passed.packet.dst == B


def test_forwarding_bypass_carries_the_reply_through_the_output_feature_untranslated() -> None:
    """The node (from its uplink, an output-feature interface: out2in on input, in2out on
    output) connects to a pod: no mapping, forwarding on, so out2in passes the request and
    creates a bypass session; the pod's reply leaving by the uplink meets the bypass flow
    instead of being source-NATed to the pool address (the node would see a reply from an
    address it never talked to). A connection the pod opens itself is still source-NATed."""
    from dataplane_nodes import NIC

    host = "192.168.16.9"
    nat = NatState(
        enabled=True,
        forwarding=True,
        interfaces=(NatInterface(NIC, output=True),),
        pools=(NatPool("192.168.16.1", "192.168.16.1"),),
    )
    dp = Dataplane(node(1, nat=nat))
    request, reply = dp.connect(Packet(host, A, TCP, 40000, 80), ingress="loopbackNIC")
    assert (request.delivered, request.interface, request.packet.src) == (True, "tap-a", host)
    assert reply is not None and reply.result == "left"  # out of the uplink, to the node
    assert (reply.interface, reply.packet.src, reply.packet.sport) == ("loopbackNIC", A, 80)
    assert any(
        "output feature: existing NAT session (forwarding bypass)" in h.reason for h in reply.hops
    )
    own = dp.send(Packet(A, host, TCP, 40001, 80))
    assert (own.result, own.packet.src) == ("left", "192.168.16.1")


def test_identity_mapping_is_not_translated() -> None:
    identity = NatStaticMapping(local_ip=B, external_ip=B, vrf=1, identity=True)
    nat = NatState(
        enabled=True,
        forwarding=False,
        interfaces=(NatInterface(TAP_A, outside=True),),
        static_mappings=(identity,),
    )
    out = Dataplane(node(1, nat=nat)).send(Packet(A, B, TCP, 40000, 80))
    assert out.delivered
    assert out.hops[1].reason == "out2in: identity mapping 10.1.1.3: not translated"


def test_out2in_new_session_needs_a_syn() -> None:
    dp = Dataplane(node(1, nat=lb_service()))
    out = dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80, tcp_flags=0x10))
    assert out.reason == "out2in: no session and not a SYN: dropped (NON_SYN)"


def test_in2out_dynamic_snat_needs_a_pool() -> None:
    # Forwarding off, inside-only client, a resolvable destination: dynamic SNAT.
    nat = NatState(enabled=True, forwarding=False, interfaces=(NatInterface(TAP_A, inside=True),))
    out = Dataplane(node(1, nat=nat)).send(Packet(A, B, TCP, 40000, 80))
    assert out.reason == "in2out: no NAT pool address to translate to: dropped (OUT_OF_PORTS)"
    # The server's TAP is outside, so its reply to the pool address is translated back.
    pooled = NatState(
        enabled=True,
        forwarding=False,
        interfaces=(NatInterface(TAP_A, inside=True), NatInterface(TAP_B, outside=True)),
        pools=(NatPool("192.168.16.1", "192.168.16.1"),),
    )
    snat, reply = Dataplane(node(1, nat=pooled)).connect(Packet(A, B, TCP, 40000, 80))
    assert (snat.delivered, snat.packet.src) == (True, "192.168.16.1")
    assert reply is not None and reply.delivered
    assert (reply.interface, reply.packet.dst, reply.packet.dport) == ("tap-a", A, 40000)


def attrs_nat(
    *mappings: NatStaticMapping,
    pools: tuple[NatPool, ...] = (NatPool("10.99.0.1", "10.99.0.1", twice_nat=True),),
    forwarding: bool = True,
) -> NatState:
    return NatState(
        enabled=True,
        forwarding=forwarding,
        interfaces=tuple(NatInterface(i, inside=True, outside=True) for i in (TAP_A, TAP_B, TAP_C)),
        pools=pools,
        static_mappings=mappings,
    )


def test_sessions_vpp_already_holds_carry_established_traffic() -> None:
    # Client a:40000 reached the service before the snapshot was taken; VPP chose backend c.
    session = NatSession(6, C, 8080, SERVICE_IP, 80, A, 40000, inside_vrf=1, static=True)
    dp = Dataplane(node(1, nat=attrs.evolve(lb_service(), sessions=(session,))))
    # A mid-connection packet (ACK, no SYN) follows the session to c ...
    out = dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80, tcp_flags=TCP_ACK))
    assert (out.result, out.interface, out.packet.dst, out.packet.dport) == (
        "delivered",
        "tap-c",
        C,
        8080,
    )
    assert out.hops[1].reason.startswith(
        "existing NAT session (VPP session 10.1.1.4:8080 <-> 10.96.0.10:80 with 10.1.1.2:40000)"
    )
    # ... and c's answers go back with the service as their source.
    back = dp.send(Packet(C, A, TCP, 8080, 40000, tcp_flags=TCP_ACK))
    assert (back.interface, back.packet.src, back.packet.sport) == ("tap-a", SERVICE_IP, 80)
    # Without the session, VPP drops a non-SYN packet that would open one.
    fresh = Dataplane(node(1, nat=lb_service()))
    dropped = fresh.send(Packet(A, SERVICE_IP, TCP, 40000, 80, tcp_flags=TCP_ACK))
    assert dropped.reason == "out2in: no session and not a SYN: dropped (NON_SYN)"
