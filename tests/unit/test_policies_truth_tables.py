"""Reachability truth tables for every scenario of ``policy_scenarios`` (upstream netpol style),
judged by the forwarding model (``contivpp.dataplane``) over what VPP holds.

Each scenario runs four ways: one node or two nodes (pods split, traffic over VXLAN), and
pod IPs or Services' ClusterIPs (the client's TAP input sees the ClusterIP and the service
port; NAT44-ED translates between the input and output ACLs). Every check renders each
node's config with the agent's renderers, reconciles it into a simulator per node, reads it
back over the binary API and forwards every probe through the model (``policy_model``).
"""

from __future__ import annotations

import pytest
from policy_model import ModelJudge, SimNodes, pod_tap, sim_nodes
from policy_scenarios import SCENARIOS, SCTP, TCP, all_pods, make_cluster, pol

from contivpp.dataplane import Packet

nodes = pytest.fixture(scope="module")(sim_nodes)


@pytest.mark.parametrize("via_service", [False, True], ids=["pod-ip", "cluster-ip"])
@pytest.mark.parametrize("two_nodes", [False, True], ids=["one-node", "two-nodes"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_truth_table(nodes: SimNodes, name: str, two_nodes: bool, via_service: bool) -> None:
    # One set of simulators per world, reused from scenario to scenario: each check programs
    # only the difference to what VPP holds (so the reconciler's deltas are exercised too).
    judge = ModelJudge(nodes, f"{two_nodes}/{via_service}")
    c = make_cluster(two_nodes, via_service, judge)
    SCENARIOS[name](c)
    assert c.checks > 0
    assert judge.connections > 0


def test_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 25


def test_sctp_ports_are_widened_to_any_port(nodes: SimNodes) -> None:
    """The documented limitation: VPP cannot match SCTP ports, so SCTP 80 also opens SCTP 81."""
    c = make_cluster(two_nodes=False, via_service=False, judge=ModelJudge(nodes, "sctp-widened"))
    c.apply(pol("x", "sctp", {"pod": "a"}, ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}]))
    # Kubernetes would deny SCTP/81 to x/a; VPP can only say "SCTP, any port".
    c.check(all_pods(c), (SCTP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 81))


def test_sctp_attempt_opens_the_reverse_direction(nodes: SimNodes) -> None:
    """A finding the model made, and what VPP does: SCTP isolation leaks through reflect sessions.

    The ACL plugin parses ports of TCP and UDP only (``acl_fill_5tuple_l4_and_pkt_data``), so
    every SCTP packet between two pods has the 5-tuple (a, b, 132, 0, 0). A permit+reflect
    rule creates a session for any protocol, with the swapped key for the other direction
    (``reverse_l4_u64_slowpath_valid``: only ICMP is special). Contiv reflects on the pod
    TAP's input, so once x/a has sent SCTP to x/b, SCTP from x/b passes x/a's TAP output by
    that session, whatever x/a's ingress policy says, until the session idles out. TCP and
    UDP sessions carry the ports: a new connection from x/b does not match them.
    """
    judge = ModelJudge(nodes, "sctp-reverse")
    c = make_cluster(two_nodes=False, via_service=False, judge=judge)
    c.apply(pol("x", "a-isolated", {"pod": "a"}, ingress=[]))
    dp = judge.sync(c)  # one model state for all the packets below
    a, b = c.ip("x/a"), c.ip("x/b")
    before = dp.send(Packet(b, a, SCTP), node="node-1")
    assert (before.result, before.stage) == ("dropped", "acl-out")
    assert dp.send(Packet(a, b, SCTP), node="node-1").delivered  # x/b is not isolated
    after = dp.send(Packet(b, a, SCTP), node="node-1")
    assert (after.delivered, after.interface) == (True, pod_tap("x/a"))
    assert any(h.reason == "existing ACL session (reflected earlier)" for h in after.hops)
    assert dp.send(Packet(a, b, TCP, 40000, 80), node="node-1").delivered
    tcp = dp.send(Packet(b, a, TCP, 40001, 80), node="node-1")
    assert (tcp.result, tcp.stage) == ("dropped", "acl-out")
