"""Table tests: permissions -> VPP ACL rules, bindings, shared tables, the state adapter.

Expected rules are literal ACL rules; node 1's VPP-host subnet is 172.30.1.0/24.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import CNIAdd, Event, K8sUpserted, NodeIDAllocated
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclRule, PortRange
from contivpp.renderers.pods import tap_name
from contivpp.renderers.policies import (
    NODE_GLOBAL_ACL,
    REFLECT_ACL,
    EgressSource,
    LocalPolicyPod,
    NodePolicyContext,
    acl_name,
    node_global_rules,
    pod_output_rules,
    render_pod_acls,
    render_policies,
    render_policies_of,
)
from contivpp.renderers.policy_rules import Permission as P
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.acl import AclDescriptor, AclIndex
from contivpp.vpp.descriptors.acl_interface import AclInterfaceDescriptor

NODE = ("172.30.1.0/24",)
PERMIT_NODE = AclRule("permit", src_network="172.30.1.0/24")
PERMIT_ALL = (AclRule("permit"), AclRule("permit", src_network="::/0"))


def tcp(first: int, last: int, src: str = "", dst: str = "") -> AclRule:
    return AclRule(
        "permit", src_network=src, dst_network=dst, protocol="tcp", dst_ports=PortRange(first, last)
    )


def test_open_pod_without_egress_sources_has_no_table() -> None:
    assert pod_output_rules("10.1.1.10", None, [], NODE) is None


def test_isolated_pod_table_permits_node_then_ingress_then_denies() -> None:
    ingress = (
        P("10.1.1.11/32", 6, 80, 80),
        P("", 17, 53, 53),
        P("10.1.2.0/24"),
        P("", 132, 0, 65535),
    )
    assert pod_output_rules("10.1.1.10", ingress, [], NODE) == (
        PERMIT_NODE,
        tcp(80, 80, src="10.1.1.11/32"),
        AclRule("permit", protocol="udp", dst_ports=PortRange(53, 53)),
        AclRule("permit", src_network="10.1.2.0/24"),
        AclRule("permit", protocol=132),
        AclRule("deny"),
    )


def test_isolated_pod_with_no_rule_denies_all_but_the_node() -> None:
    assert pod_output_rules("10.1.1.10", (), [], NODE) == (PERMIT_NODE, AclRule("deny"))


def test_local_source_egress_narrower_than_ingress_gets_a_block() -> None:
    source = EgressSource("10.1.1.20", (P("10.1.1.10/32", 6, 80, 81),))
    assert pod_output_rules("10.1.1.10", None, [source], NODE) == (
        PERMIT_NODE,
        tcp(80, 81, src="10.1.1.20/32"),
        AclRule("deny", src_network="10.1.1.20/32"),
        *PERMIT_ALL,
    )


def test_block_holds_the_intersection_of_egress_and_ingress() -> None:
    ingress = (P("10.1.1.20/32", 6, 80, 90), P("", 17, 53, 53))
    source = EgressSource(
        "10.1.1.20", (P("10.1.1.0/24", 6, 85, 100), P("10.1.1.10/32", 17, 0, 65535))
    )
    assert pod_output_rules("10.1.1.10", ingress, [source], NODE) == (
        PERMIT_NODE,
        tcp(85, 90, src="10.1.1.20/32"),
        AclRule("permit", src_network="10.1.1.20/32", protocol="udp", dst_ports=PortRange(53, 53)),
        AclRule("deny", src_network="10.1.1.20/32"),
        tcp(80, 90, src="10.1.1.20/32"),
        AclRule("permit", protocol="udp", dst_ports=PortRange(53, 53)),
        AclRule("deny"),
    )


def test_no_block_when_egress_takes_nothing_away() -> None:
    ingress = (P("10.1.1.20/32", 6, 80, 80),)
    wide = EgressSource("10.1.1.20", (P(""),))
    denied_anyway = EgressSource("10.1.1.30", ())  # ingress does not allow it either
    assert pod_output_rules("10.1.1.10", ingress, [wide, denied_anyway], NODE) == (
        PERMIT_NODE,
        tcp(80, 80, src="10.1.1.20/32"),
        AclRule("deny"),
    )


def test_node_global_table() -> None:
    sources = [
        EgressSource("10.1.1.30", ()),
        EgressSource("10.1.1.20", (P("10.1.2.0/24", 6, 80, 80), P("2001:db8::/64"))),
    ]
    assert node_global_rules(sources, NODE) == (
        AclRule("permit", dst_network="172.30.1.0/24"),
        tcp(80, 80, src="10.1.1.20/32", dst="10.1.2.0/24"),
        AclRule("deny", src_network="10.1.1.20/32"),  # the IPv6 peer cannot concern an IPv4 pod
        AclRule("deny", src_network="10.1.1.30/32"),
        *PERMIT_ALL,
    )
    assert node_global_rules([], NODE) is None


def test_acl_name_is_a_hash_of_the_rules_text() -> None:
    rules = (PERMIT_NODE, tcp(80, 80, src="10.1.1.11/32"), AclRule("deny"))
    text = (
        "permit 172.30.1.0/24 - any 0-65535 0-65535 0/0\n"
        "permit 10.1.1.11/32 - tcp 0-65535 80-80 0/0\n"
        "deny - - any 0-65535 0-65535 0/0"
    )
    assert acl_name(rules) == "policy-" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
    assert acl_name(rules[:2]) != acl_name(rules)


def test_pod_binding_reflects_on_input_and_filters_on_output() -> None:
    rules = (PERMIT_NODE, AclRule("deny"))
    values = render_pod_acls("tap-1", rules)
    name = acl_name(rules)
    assert values.bindings == {
        keys.acl_interface("tap-1"): AclInterface("tap-1", ingress=(REFLECT_ACL,), egress=(name,))
    }
    assert values.acls == {
        keys.acl(name): Acl(name, rules),
        keys.acl(REFLECT_ACL): Acl(
            REFLECT_ACL, (AclRule("reflect"), AclRule("reflect", src_network="::/0"))
        ),
    }
    assert render_pod_acls("tap-1", None).bindings == {}


def _pod(ns: str, name: str, ip: str, **labels: str) -> k8s.Pod:
    return k8s.Pod(ns, name, tuple(sorted(labels.items())), ip=ip)


def _policy(ns: str, name: str, spec: dict[str, Any]) -> k8s.NetworkPolicy:
    pol = k8s.parse_object(
        {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}
    )
    assert isinstance(pol, k8s.NetworkPolicy)
    return pol


LOCAL = [
    LocalPolicyPod("tap-xa", _pod("x", "a", "10.1.1.10", app="a")),
    LocalPolicyPod("tap-xb", _pod("x", "b", "10.1.1.11", app="b")),
    LocalPolicyPod("tap-xc", _pod("x", "c", "10.1.1.12", app="c")),
    LocalPolicyPod("tap-ya", _pod("y", "a", "10.1.1.13", app="a")),
]
REMOTE = [_pod("z", "a", "10.1.2.10", app="a")]


def _tables(values: dict[Any, object]) -> dict[str, Acl]:
    return {
        v.name: v
        for v in values.values()
        if isinstance(v, Acl) and v.name not in (REFLECT_ACL, NODE_GLOBAL_ACL)
    }


def _bindings(values: dict[Any, object]) -> dict[str, AclInterface]:
    return {v.interface: v for v in values.values() if isinstance(v, AclInterface)}


def test_pods_with_identical_rules_share_one_acl() -> None:
    deny_x = _policy("x", "deny", {"podSelector": {}, "ingress": []})
    render = render_policies(LOCAL, [deny_x], {}, REMOTE, NodePolicyContext(NODE))
    tables = _tables(render.values)
    bindings = _bindings(render.values)
    assert list(tables.values()) == [
        Acl(acl_name((PERMIT_NODE, AclRule("deny"))), (PERMIT_NODE, AclRule("deny")))
    ]
    assert sorted(bindings) == ["tap-xa", "tap-xb", "tap-xc"]  # y/a is open: no ACL at all
    assert {b.egress for b in bindings.values()} == {tuple(tables)}
    assert keys.acl(NODE_GLOBAL_ACL) not in render.values


def test_acl_count_equals_distinct_rule_lists_and_egress_adds_the_global_table() -> None:
    deny_x = _policy("x", "deny", {"podSelector": {}, "ingress": []})
    a_to_z = _policy(
        "x",
        "a-to-z",
        {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}]}
            ],
        },
    )
    b_from_y = _policy(
        "x",
        "b-from-y",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}
                    ]
                }
            ],
        },
    )
    render = render_policies(LOCAL, [deny_x, a_to_z, b_from_y], {}, REMOTE, NodePolicyContext(NODE))
    tables = _tables(render.values)
    bindings = _bindings(render.values)
    assert bindings["tap-xa"].egress == bindings["tap-xc"].egress != bindings["tap-xb"].egress
    distinct = {
        tables[b.egress[0]].rules
        for name, b in bindings.items()
        if name.startswith("tap-x") or name == "tap-ya"
    }
    assert len(tables) == len(distinct) == 2
    # x/a may reach y/a (app=a): no block there, so y/a stays open; the x pods deny x/a anyway.
    assert "tap-ya" not in bindings
    assert render.values[keys.acl(NODE_GLOBAL_ACL)] == Acl(
        NODE_GLOBAL_ACL,
        (
            AclRule("permit", dst_network="172.30.1.0/24"),
            AclRule("permit", src_network="10.1.1.10/32", dst_network="10.1.1.10/32"),
            AclRule("permit", src_network="10.1.1.10/32", dst_network="10.1.1.13/32"),
            AclRule("permit", src_network="10.1.1.10/32", dst_network="10.1.2.10/32"),
            AclRule("deny", src_network="10.1.1.10/32"),
            *PERMIT_ALL,
        ),
    )
    for uplink in ("vxlanBVI", "tap-vpp2"):
        assert bindings[uplink] == AclInterface(
            uplink, ingress=(REFLECT_ACL,), egress=(NODE_GLOBAL_ACL,)
        )


def test_egress_deny_puts_a_block_in_open_pods_tables() -> None:
    a_no_egress = _policy(
        "x", "a-quiet", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]}
    )
    render = render_policies(LOCAL, [a_no_egress], {}, REMOTE, NodePolicyContext(NODE))
    tables = _tables(render.values)
    expected = (PERMIT_NODE, AclRule("deny", src_network="10.1.1.10/32"), *PERMIT_ALL)
    assert list(tables.values()) == [Acl(acl_name(expected), expected)]
    assert sorted(_bindings(render.values)) == [
        "tap-vpp2",
        "tap-xa",
        "tap-xb",
        "tap-xc",
        "tap-ya",
        "vxlanBVI",
    ]


def test_rendered_values_pass_the_descriptors_checks() -> None:
    policies = [
        _policy(
            "x",
            "deny",
            {
                "podSelector": {},
                "ingress": [],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": "2001:db8::/32"}}]},
                    {"ports": [{"protocol": "SCTP", "port": 9}]},
                ],
            },
        ),
    ]
    values = render_policies(LOCAL, policies, {}, REMOTE, NodePolicyContext(NODE)).values
    acls = AclDescriptor(cast(VPPClient, None), cast(AclIndex, None))
    bindings = AclInterfaceDescriptor(cast(VPPClient, None), cast(AclIndex, None))
    assert values
    for key, value in values.items():
        if isinstance(value, Acl):
            acls.check(key, value)
        else:
            assert isinstance(value, AclInterface)
            bindings.check(key, value)


def _state(*events: Event) -> ClusterState:
    state = initial_state(AgentConfig("node-1"))
    for event in events:
        state = fold(state, event)
    return state


def test_render_from_state_uses_the_taps_and_this_nodes_networks() -> None:
    node = k8s.Node("node-1", (k8s.NodeAddress("InternalIP", "192.168.16.1"),))
    state = _state(
        NodeIDAllocated("node-1", 1),
        K8sUpserted(node),
        K8sUpserted(k8s.Namespace("x")),
        K8sUpserted(k8s.Pod("x", "a", (("app", "a"),), node_name="node-1")),
        K8sUpserted(_policy("x", "deny", {"podSelector": {}, "ingress": []})),
        CNIAdd("c0ffee", "/var/run/netns/a", "eth0", "x", "a"),
        CNIAdd("beef", "/var/run/netns/b", "eth0", "x", "b"),  # no Pod object yet: no labels
    )
    render = render_policies_of(state)
    rules = (PERMIT_NODE, AclRule("permit", src_network="192.168.16.1/32"), AclRule("deny"))
    name = acl_name(rules)
    assert render.values[keys.acl(name)] == Acl(name, rules)
    for container in ("c0ffee", "beef"):  # an empty podSelector selects label-less pods too
        tap = tap_name(container)
        assert render.values[keys.acl_interface(tap)] == AclInterface(tap, (REFLECT_ACL,), (name,))
    assert render_policies_of(_state()).values == {}


def test_worked_example_of_the_docs() -> None:
    """docs/policies.md, "Worked example": the same inputs give the ACLs printed there."""
    local = [
        LocalPolicyPod(f"tap-{n}", _pod("x", n, ip, pod=n))
        for n, ip in (("a", "10.1.1.10"), ("b", "10.1.1.11"), ("c", "10.1.1.12"))
    ]
    deny = _policy("x", "deny", {"podSelector": {}, "ingress": []})
    web = _policy(
        "x",
        "web",
        {
            "podSelector": {"matchLabels": {"pod": "a"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}], "ports": [{"port": 80}]}
            ],
            "egress": [
                {"to": [{"namespaceSelector": {}}], "ports": [{"port": 53, "protocol": "UDP"}]}
            ],
        },
    )
    values = render_policies(local, [deny, web], {}, [], NodePolicyContext(NODE)).values
    bindings = _bindings(values)
    assert {i: b.egress for i, b in bindings.items()} == {
        "tap-a": ("policy-d3af3b473085d71e",),
        "tap-b": ("policy-55b839b0d5f2bbe8",),
        "tap-c": ("policy-55b839b0d5f2bbe8",),
        "vxlanBVI": (NODE_GLOBAL_ACL,),
        "tap-vpp2": (NODE_GLOBAL_ACL,),
    }
    assert values[keys.acl("policy-d3af3b473085d71e")] == Acl(
        "policy-d3af3b473085d71e", (PERMIT_NODE, tcp(80, 80, src="10.1.1.11/32"), AclRule("deny"))
    )
    assert values[keys.acl("policy-55b839b0d5f2bbe8")] == Acl(
        "policy-55b839b0d5f2bbe8", (PERMIT_NODE, AclRule("deny"))
    )
    udp53 = PortRange(53, 53)
    assert values[keys.acl(NODE_GLOBAL_ACL)] == Acl(
        NODE_GLOBAL_ACL,
        (
            AclRule("permit", dst_network="172.30.1.0/24"),
            *(
                AclRule(
                    "permit",
                    src_network="10.1.1.10/32",
                    dst_network=f"10.1.1.{h}/32",
                    protocol="udp",
                    dst_ports=udp53,
                )
                for h in (10, 11, 12)
            ),
            AclRule("deny", src_network="10.1.1.10/32"),
            *PERMIT_ALL,
        ),
    )


def test_render_does_not_depend_on_input_order() -> None:
    """Same inputs in another order: the same values in the same order, byte for byte."""
    policies = [
        _policy("x", "deny", {"podSelector": {}, "ingress": []}),
        _policy(
            "x",
            "a-out",
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}],
            },
        ),
        _policy(
            "y",
            "from-x",
            {
                "podSelector": {},
                "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 80}]}],
            },
        ),
    ]
    node = NodePolicyContext(NODE)
    forward = render_policies(LOCAL, policies, {}, REMOTE, node)
    backward = render_policies(LOCAL[::-1], policies[::-1], {}, REMOTE[::-1], node)
    assert repr(list(forward.values.items())) == repr(list(backward.values.items()))
    tables = _tables(forward.values)
    assert len(tables) == 2  # x's pods share one; y/a has its own
    ya = tables[_bindings(forward.values)["tap-ya"].egress[0]]
    # x/a may only send UDP 53, y/a only takes TCP 80: nothing from x/a passes.
    assert ya.rules[1] == AclRule("deny", src_network="10.1.1.10/32")
