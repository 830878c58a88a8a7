"""Random policies: VPP, as the forwarding model reads it, agrees with a per-packet reading of
the specification.

The scenario tables cover what upstream tests; this covers combinations nobody wrote down
(several policies, mixed directions, blocks of local sources inside other pods' tables,
named ports, ipBlocks, SCTP). The oracle below judges one connection directly from the
Kubernetes API reference: isolation per direction, rules/peers/ports ORed, podSelector AND
namespaceSelector, ipBlock minus except, named ports of the destination pod, endPort. It
shares no code with the renderer. The one deviation it knows is the documented one: SCTP
ports are not matched by VPP, so an SCTP port spec allows every SCTP port.

The verdicts come from ``policy_model.ModelJudge``: the rendered config reconciled into
simulators, read back over the binary API and forwarded by ``contivpp.dataplane``. The
simulators of each world (one or two nodes, pod IP or ClusterIP) are reused from example to
example: only the difference is programmed.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_model import ModelJudge, SimNodes, sim_nodes
from policy_scenarios import PROTO_NAMES, SCTP, TCP, UDP, Cluster, Reach, make_cluster

from contivpp.events import k8s

PROBES = ((TCP, 80), (TCP, 81), (UDP, 80), (SCTP, 81))
nodes = pytest.fixture(scope="module")(sim_nodes)
NAME_LABEL = "kubernetes.io/metadata.name"


# ---------------------------------------------------------------------------------------------
# The oracle


def _ns_labels(c: Cluster, ns: str) -> k8s.Labels:
    return tuple(sorted({**dict(c.namespaces.get(ns, ())), NAME_LABEL: ns}.items()))


def _peer_has(c: Cluster, policy: k8s.NetworkPolicy, peer: k8s.PolicyPeer, other: k8s.Pod) -> bool:
    if peer.ip_block is not None:
        addr = ip_address(other.ip)
        return addr in ip_network(peer.ip_block.cidr) and not any(
            addr in ip_network(e) for e in peer.ip_block.excepts
        )
    if peer.namespace_selector is None:
        ns_ok = other.namespace == policy.namespace
    else:
        ns_ok = peer.namespace_selector.matches(_ns_labels(c, other.namespace))
    pod_ok = peer.pod_selector is None or peer.pod_selector.matches(other.labels)
    return ns_ok and pod_ok


def _port_has(spec: k8s.PolicyPort, dst: k8s.Pod, protocol: int, port: int) -> bool:
    if PROTO_NAMES[protocol] != spec.protocol:
        return False
    if spec.port is None:
        return True
    if isinstance(spec.port, str):
        numbers = [p.port for p in dst.ports if p.name == spec.port and p.protocol == spec.protocol]
        if not numbers:
            return False
        return protocol == SCTP or port in numbers  # SCTP: the documented limitation
    if protocol == SCTP:
        return True
    return spec.port <= port <= (spec.end_port or spec.port)


def _direction_allows(
    c: Cluster, subject: k8s.Pod, other: k8s.Pod, dst: k8s.Pod, protocol: int, port: int, kind: str
) -> bool:
    selecting = [
        p
        for p in c.policies.values()
        if p.namespace == subject.namespace
        and p.pod_selector.matches(subject.labels)
        and kind in p.policy_types
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy.ingress if kind == "Ingress" else policy.egress:
            peer_ok = not rule.peers or any(
                _peer_has(c, policy, peer, other) for peer in rule.peers
            )
            port_ok = not rule.ports or any(_port_has(s, dst, protocol, port) for s in rule.ports)
            if peer_ok and port_ok:
                return True
    return False


def allowed(c: Cluster, src: k8s.Pod, dst: k8s.Pod, protocol: int, port: int) -> bool:
    return _direction_allows(c, dst, src, dst, protocol, port, "Ingress") and _direction_allows(
        c, src, dst, dst, protocol, port, "Egress"
    )


# ---------------------------------------------------------------------------------------------
# Random policies over the x/y/z, a/b/c world

_label_sel = st.sampled_from(
    [
        {},
        {"matchLabels": {"pod": "a"}},
        {"matchLabels": {"pod": "b"}},
        {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["a", "c"]}]},
        {"matchExpressions": [{"key": "pod", "operator": "NotIn", "values": ["a"]}]},
    ]
)
_ns_sel = st.sampled_from(
    [
        {},
        {"matchLabels": {"ns": "y"}},
        {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]},
        {"matchLabels": {"team": "ok"}},
    ]
)
_peer = st.one_of(
    st.builds(lambda p: {"podSelector": p}, _label_sel),
    st.builds(lambda n: {"namespaceSelector": n}, _ns_sel),
    st.builds(lambda p, n: {"podSelector": p, "namespaceSelector": n}, _label_sel, _ns_sel),
    st.sampled_from(
        [
            {"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.1.0/24"]}},
            {"ipBlock": {"cidr": "10.1.1.8/29"}},
            {"ipBlock": {"cidr": "10.1.2.0/24", "except": ["10.1.2.8/30"]}},
        ]
    ),
)
_port = st.sampled_from(
    [
        {"port": 80},
        {"port": 81, "protocol": "UDP"},
        {"port": 80, "endPort": 81},
        {"protocol": "UDP"},
        {"port": "serve-81-tcp"},
        {"port": "serve-80-udp", "protocol": "UDP"},
        {"port": "web"},
        {"port": 81, "protocol": "SCTP"},
        {"port": "serve-80-sctp", "protocol": "SCTP"},
    ]
)
_rule = st.builds(
    lambda peers, ports: {k: v for k, v in (("peers", peers), ("ports", ports)) if v is not None},
    st.one_of(st.none(), st.lists(_peer, min_size=1, max_size=2)),
    st.one_of(st.none(), st.lists(_port, min_size=1, max_size=2)),
)


def _rules(direction: str) -> st.SearchStrategy[list[dict[str, Any]] | None]:
    peers = "from" if direction == "ingress" else "to"
    return st.one_of(
        st.none(),
        st.lists(_rule, max_size=2).map(
            lambda rules: [
                {
                    **({peers: r["peers"]} if "peers" in r else {}),
                    **({"ports": r["ports"]} if "ports" in r else {}),
                }
                for r in rules
            ]
        ),
    )


@st.composite
def _policy(draw: st.DrawFn, index: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(_label_sel)}
    for direction in ("ingress", "egress"):
        rules = draw(_rules(direction))
        if rules is not None:
            spec[direction] = rules
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types is not None:
        spec["policyTypes"] = types
    ns = draw(st.sampled_from(["x", "y", "z"]))
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": f"p{index}", "namespace": ns},
        "spec": spec,
    }


_world = st.fixed_dictionaries(
    {
        "policies": st.integers(1, 4).flatmap(lambda n: st.tuples(*(_policy(i) for i in range(n)))),
        "two_nodes": st.booleans(),
        "via_service": st.booleans(),
        "team_ok": st.sampled_from(["x", "y", "z"]),
    }
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_world)
def test_vpp_matches_the_specification(nodes: SimNodes, world: dict[str, Any]) -> None:
    judge = ModelJudge(nodes, f"random/{world['two_nodes']}/{world['via_service']}")
    c = make_cluster(world["two_nodes"], world["via_service"], judge)
    c.label_namespace(world["team_ok"], team="ok")
    c.add_ports("x/b", ("web", 81, "TCP"))
    c.add_ports("y/a", ("web", 80, "TCP"))
    for raw in world["policies"]:
        c.apply(raw)
    for protocol, port in PROBES:
        reach = Reach(sorted(c.pods))
        for frm, to in reach.table:
            reach.expect(frm, to, allowed(c, c.pods[frm], c.pods[to], protocol, port))
        c.check(reach, (protocol, port))
