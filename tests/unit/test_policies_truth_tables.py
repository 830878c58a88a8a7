"""Reachability truth tables for every scenario of ``policy_scenarios`` (upstream netpol style).

Each scenario runs four ways: one node or two nodes (pods split, traffic over VXLAN), and
pod IPs or Services' ClusterIPs (the client's TAP input sees the ClusterIP and the service
port; NAT happens between the input and output ACLs).
"""

from __future__ import annotations

import pytest
from policy_dataplane import SCTP, TCP
from policy_scenarios import SCENARIOS, all_pods, make_cluster, pol


@pytest.mark.parametrize("via_service", [False, True], ids=["pod-ip", "cluster-ip"])
@pytest.mark.parametrize("two_nodes", [False, True], ids=["one-node", "two-nodes"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_truth_table(name: str, two_nodes: bool, via_service: bool) -> None:
    c = make_cluster(two_nodes, via_service)
    SCENARIOS[name](c)
    assert c.checks > 0


def test_enough_scenarios() -> None:
    assert len(SCENARIOS) >= 25


def test_sctp_ports_are_widened_to_any_port() -> None:
    """The documented limitation: VPP cannot match SCTP ports, so SCTP 80 also opens SCTP 81."""
    c = make_cluster(two_nodes=False, via_service=False)
    c.apply(pol("x", "sctp", {"pod": "a"}, ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}]))
    # Kubernetes would deny SCTP/81 to x/a; VPP can only say "SCTP, any port".
    c.check(all_pods(c), (SCTP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 81))
