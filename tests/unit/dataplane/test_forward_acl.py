"""ACL stage: the VPP v26.06 ACL plugin as the forwarding model applies it.

VPP behaviour encoded (src/plugins/acl/):
- ``single_acl_match_5tuple`` / ``linear_multi_acl_match_5tuple`` (public_inlines.h): the ACLs
  of a direction in order, the rules in order, the first match decides; nothing matching
  denies (``action = 0; /* deny by default */`` in dataplane_node.c).
- An interface without ACLs in a direction has no ACL node there: everything passes.
- ``acl_fill_5tuple_l4_and_pkt_data``: only TCP and UDP have ports; ICMP is matched on type and
  code; every other protocol (SCTP) is seen with ports 0/0.
- permit+reflect (action 2) adds a session keyed by the interface and direction, and its
  reverse key with the direction flipped (``reverse_l4_u64_fastpath``): the reply passes only
  on the same interface in the opposite direction.
- A missing ACL index in a list blocks ("the ACL does not exist but is used for policy").
"""

from __future__ import annotations

from dataplane_nodes import TAP_A, TAP_B, TAP_C, node

from contivpp.dataplane import ICMP, TCP, UDP, Dataplane, Packet
from contivpp.dataplane.snapshot import AclBinding, AclState
from contivpp.model.acl import AclRule, PortRange

A, B, C = "10.1.1.2", "10.1.1.3", "10.1.1.4"
SCTP = 132


def rule(action: str, proto: str | int = "any", dport: int | None = None, **kw: object) -> AclRule:
    ports = PortRange(dport, dport) if dport is not None else PortRange()
    return AclRule(action, protocol=proto, dst_ports=ports, **kw)  # type: ignore[arg-type]


def with_acls(*acls: AclState, bindings: tuple[AclBinding, ...]) -> Dataplane:
    return Dataplane(node(1, acls=acls, bindings=bindings))


def test_first_matching_rule_decides_even_when_a_later_one_permits() -> None:
    acl = AclState(0, "pol-b", (rule("deny", "tcp", 80), rule("permit")))
    dp = with_acls(acl, bindings=(AclBinding(TAP_B, output=(0,)),))
    out = dp.send(Packet(A, B, TCP, 40000, 80))
    assert (out.result, out.stage, out.interface) == ("dropped", "acl-out", "tap-b")
    assert out.reason == "ACL 0 'pol-b' rule 0 (any -> any tcp dport 80-80): deny"
    # Port 81 skips rule 0 and is permitted by rule 1.
    other = dp.send(Packet(A, B, TCP, 40000, 81))
    assert other.delivered
    assert other.hops[-2].reason == "ACL 0 'pol-b' rule 1 (any -> any): permit"


def test_acls_are_tried_in_list_order() -> None:
    first = AclState(3, "first", (rule("deny", src_network="10.1.1.2/32"),))
    second = AclState(1, "second", (rule("permit"),))
    dp = with_acls(first, second, bindings=(AclBinding(TAP_B, output=(3, 1)),))
    assert (
        dp.send(Packet(A, B, TCP, 1, 80)).reason
        == "ACL 3 'first' rule 0 (10.1.1.2/32 -> any): deny"
    )
    assert dp.send(Packet(C, B, TCP, 1, 80)).delivered


def test_no_matching_rule_denies_and_no_acl_permits() -> None:
    acl = AclState(0, "only-udp", (rule("permit", "udp"),))
    dp = with_acls(acl, bindings=(AclBinding(TAP_B, output=(0,)),))
    out = dp.send(Packet(A, B, TCP, 40000, 80))
    assert (out.result, out.reason) == ("dropped", "no rule of ACL 0 'only-udp' matches: denied")
    assert dp.send(Packet(A, B, UDP, 40000, 53)).delivered
    # tap-c has no ACL: everything passes, and no ACL hop is recorded.
    to_c = dp.send(Packet(A, C, TCP, 40000, 80))
    assert to_c.delivered
    assert [h.stage for h in to_c.hops] == ["ingress", "fib", "deliver"]


def test_input_acl_runs_before_the_fib() -> None:
    acl = AclState(0, "egress-a", (rule("deny", dst_network="10.1.1.4/32"), rule("permit")))
    dp = with_acls(acl, bindings=(AclBinding(TAP_A, input=(0,)),))
    out = dp.send(Packet(A, C, TCP, 1, 80))
    assert [h.stage for h in out.hops] == ["ingress", "acl-in"]
    assert dp.send(Packet(A, B, TCP, 1, 80)).delivered


def test_isolated_pod_refuses_connections_but_gets_replies_to_its_own() -> None:
    # Contiv's orientation: a pod's policy as the output ACL of its TAP, reflect on input.
    reflect = AclState(0, "reflect", (rule("reflect"),))
    deny_all = AclState(1, "deny-all", (rule("deny"),))
    dp = with_acls(reflect, deny_all, bindings=(AclBinding(TAP_B, input=(0,), output=(1,)),))
    refused = dp.send(Packet(A, B, TCP, 40000, 80))
    assert (refused.result, refused.stage, refused.interface) == ("dropped", "acl-out", "tap-b")
    assert refused.reason == "ACL 1 'deny-all' rule 0 (any -> any): deny"
    request, reply = dp.connect(Packet(B, A, TCP, 50000, 22))
    assert request.delivered
    assert reply is not None and reply.delivered
    assert (reply.interface, reply.packet.src, reply.packet.dport) == ("tap-b", A, 50000)


def test_reflect_session_is_per_interface_and_direction() -> None:
    reflect = AclState(0, "reflect", (rule("reflect"),))
    deny_all = AclState(1, "deny-all", (rule("deny"),))
    dp = with_acls(
        reflect,
        deny_all,
        bindings=(AclBinding(TAP_A, input=(0,), output=(1,)), AclBinding(TAP_C, output=(1,))),
    )
    request, reply = dp.connect(Packet(A, B, TCP, 40000, 80))
    assert request.delivered
    assert request.hops[1].reason == (
        "ACL 0 'reflect' rule 0 (any -> any): permit+reflect, session on tap-a: replies pass "
        "its output"
    )
    assert reply is not None and reply.delivered
    assert [h.reason for h in reply.hops if h.stage == "acl-out"] == [
        "existing ACL session (reflected earlier)"
    ]
    # The same 5-tuple reply arriving for another interface (tap-c, same deny-all output)
    # has no session there: the session belongs to tap-a only.
    spoofed = dp.send(Packet(B, C, TCP, 80, 40000, tcp_flags=0x12))
    assert (spoofed.result, spoofed.interface) == ("dropped", "tap-c")
    # A new flow (other port) from B to A is not a reply: denied on tap-a.
    fresh = dp.send(Packet(B, A, TCP, 81, 40000))
    assert (fresh.result, fresh.stage, fresh.interface) == ("dropped", "acl-out", "tap-a")


def test_icmp_echo_reflect_lets_only_the_echo_reply_back() -> None:
    reflect = AclState(0, "reflect", (rule("reflect"),))
    deny_all = AclState(1, "deny-all", (rule("deny"),))
    dp = with_acls(reflect, deny_all, bindings=(AclBinding(TAP_A, input=(0,), output=(1,)),))
    request, reply = dp.connect(Packet(A, B, ICMP, 7, icmp_type=8))
    assert request.delivered and reply is not None and reply.delivered
    # An echo *request* from B to A is not the reverse of A's echo request.
    assert not dp.send(Packet(B, A, ICMP, 7, icmp_type=8)).delivered


def test_sctp_is_matched_with_ports_zero() -> None:
    # A rule "SCTP dport 80" never matches: the plugin sees SCTP ports as 0/0.
    acl = AclState(0, "sctp", (rule("permit", SCTP, 80),))
    dp = with_acls(acl, bindings=(AclBinding(TAP_B, output=(0,)),))
    assert dp.send(Packet(A, B, SCTP, 5000, 80)).reason == "no rule of ACL 0 'sctp' matches: denied"
    any_port = AclState(0, "sctp", (rule("permit", SCTP, 0),))
    dp = with_acls(any_port, bindings=(AclBinding(TAP_B, output=(0,)),))
    assert dp.send(Packet(A, B, SCTP, 5000, 80)).delivered


def test_tcp_flags_are_matched_under_the_mask() -> None:
    # Established-only: ACK must be set (mask 0x10, value 0x10).
    acl = AclState(0, "est", (rule("permit", "tcp", tcp_flags_mask=0x10, tcp_flags_value=0x10),))
    dp = with_acls(acl, bindings=(AclBinding(TAP_B, output=(0,)),))
    assert not dp.send(Packet(A, B, TCP, 1, 80, tcp_flags=0x02)).delivered
    assert dp.send(Packet(A, B, TCP, 1, 80, tcp_flags=0x10)).delivered


def test_a_missing_acl_index_blocks() -> None:
    dp = with_acls(bindings=(AclBinding(TAP_B, output=(9,)),))
    out = dp.send(Packet(A, B, TCP, 1, 80))
    assert out.reason == "ACL index 9 does not exist: VPP blocks"
