"""Session timeouts of the simulator's forwarder, on a virtual clock.

VPP behaviour encoded:
- ACL plugin (``acl.h``, ``fa_session_get_timeout_type``): a TCP session is "transient" (120 s)
  until it has seen traffic both ways, then idle-timed at 24 h; every other protocol uses the
  UDP idle timeout (600 s). A packet hitting the session refreshes it.
- NAT44-ED (``nat44_session_get_timeout``): UDP 300 s, ICMP 60 s, TCP transitory 240 s until
  established, established 7440 s; ``nat_set_timeouts`` changes them. Both flows of a session
  (in2out and out2in) go together.
"""

from __future__ import annotations

import attrs
from dataplane_nodes import SERVICE_IP, TAP_A, TAP_B, lb_service, node

from contivpp.dataplane import TCP, UDP, Dataplane, Packet
from contivpp.dataplane.forward import NodeState
from contivpp.dataplane.snapshot import AclBinding, AclState
from contivpp.model.acl import AclRule
from contivpp.vpp.sim.nat import DEFAULT_TIMEOUTS
from contivpp.vpp.sim.sessions import AclSessions, NatFlows

A, B = "10.1.1.2", "10.1.1.3"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed(dp: Dataplane, clock: Clock, nat: dict[str, int] | None = None) -> NodeState:
    name = next(iter(dp.snapshots))
    state = NodeState(
        acl_sessions=AclSessions(clock),
        nat_flows=NatFlows(clock, lambda: nat or DEFAULT_TIMEOUTS),
    )
    dp.state[name] = state
    return state


def isolated_b() -> Dataplane:
    """tap-b refuses new connections (output deny-all) but reflects its own (input reflect)."""
    reflect = AclState(0, "reflect", (AclRule("reflect"),))
    deny = AclState(1, "deny-all", (AclRule("deny"),))
    bindings = (AclBinding(TAP_B, input=(0,), output=(1,)),)
    return Dataplane(node(1, acls=(reflect, deny), bindings=bindings))


def test_acl_udp_session_expires_after_600s_idle_and_a_hit_refreshes_it() -> None:
    clock, dp = Clock(), isolated_b()
    state = timed(dp, clock)
    request = dp.send(Packet(B, A, UDP, 5000, 53))
    assert request.delivered
    answer = Packet(A, B, UDP, 53, 5000, tcp_flags=0)
    clock.now += 590
    assert dp.send(answer).delivered  # refreshes the session
    clock.now += 590
    assert state.acl_sessions.expire() == 0  # type: ignore[attr-defined]
    assert dp.send(answer).delivered
    clock.now += 601
    assert state.acl_sessions.expire() == 1  # type: ignore[attr-defined]
    late = dp.send(answer)
    assert (late.result, late.reason) == ("dropped", "ACL 1 'deny-all' rule 0 (any -> any): deny")


def test_acl_tcp_session_is_transient_until_answered() -> None:
    clock, dp = Clock(), isolated_b()
    state = timed(dp, clock)
    sessions: AclSessions = state.acl_sessions  # type: ignore[assignment]
    sessions.tcp_flags = 0x02
    assert dp.send(Packet(B, A, TCP, 5000, 80)).delivered
    clock.now += 121
    assert sessions.expire() == 1  # a SYN never answered: 120 s
    assert dp.send(Packet(B, A, TCP, 5001, 80)).delivered
    sessions.tcp_flags = 0x12
    assert dp.send(Packet(A, B, TCP, 80, 5001, tcp_flags=0x12)).delivered  # SYN+ACK back
    clock.now += 3600
    assert sessions.expire() == 0  # established: 24 h
    clock.now += 24 * 3600
    assert sessions.expire() == 1


def test_nat_session_flows_expire_together_by_protocol_timeout() -> None:
    clock = Clock()
    tcp = lb_service()
    udp = attrs.evolve(tcp, lb_mappings=(attrs.evolve(tcp.lb_mappings[0], protocol=UDP),))
    dp = Dataplane(node(1, nat=udp))
    state = timed(dp, clock, {**DEFAULT_TIMEOUTS, "udp": 5})
    flows: NatFlows = state.nat_flows  # type: ignore[assignment]
    request, reply = dp.connect(Packet(A, SERVICE_IP, UDP, 40000, 80))
    assert reply is not None and reply.delivered and reply.packet.src == SERVICE_IP
    assert len(flows) == 2  # in2out and out2in of one session
    clock.now += 4
    assert dp.reply(request).packet.src == SERVICE_IP  # refreshed
    clock.now += 4
    assert flows.expire() == 0
    clock.now += 6
    assert flows.expire() == 1
    assert len(flows) == 0


def test_nat_tcp_timeout_follows_the_connection_state() -> None:
    clock = Clock()
    dp = Dataplane(node(1, nat=lb_service()))
    state = timed(dp, clock)
    flows: NatFlows = state.nat_flows  # type: ignore[assignment]
    dp.connect(Packet(A, SERVICE_IP, TCP, 40000, 80))  # SYN out, SYN+ACK back: established
    clock.now += 241
    assert flows.expire() == 0  # past transitory, within established (7440 s)
    flows.tcp_flags = 0x11  # FIN+ACK: closing -> transitory
    dp.send(Packet(A, SERVICE_IP, TCP, 40000, 80, tcp_flags=0x11), ingress=TAP_A)
    clock.now += 241
    assert flows.expire() == 1
