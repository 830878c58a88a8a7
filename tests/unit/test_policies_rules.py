"""Table tests: each NetworkPolicy semantic point, on one pod's effective permissions.

Expected permissions are literal: (peer CIDR, protocol number, first port, last port), with
"" = any peer and protocol 0 = every protocol. Pods: x/a 10.1.1.10, x/b 10.1.1.11,
y/a 10.1.2.10, kube-system/dns 10.1.2.53, and a hostNetwork pod on 192.168.0.5.
"""

from __future__ import annotations

from typing import Any

import pytest

from contivpp.events import k8s
from contivpp.renderers.policy_rules import (
    PeerResolver,
    Permission,
    PodRules,
    block_networks,
    pod_rules,
    pods_selected_by,
    policies_naming,
    policies_selecting,
)

WEB = (
    k8s.ContainerPort("http", 8080, "TCP"),
    k8s.ContainerPort("dns", 53, "UDP"),
    k8s.ContainerPort("assoc", 9000, "SCTP"),
)
XA = k8s.Pod("x", "a", (("app", "web"), ("tier", "front")), ip="10.1.1.10", ports=WEB)
XB = k8s.Pod(
    "x", "b", (("app", "db"),), ip="10.1.1.11", ports=(k8s.ContainerPort("http", 9090, "TCP"),)
)
YA = k8s.Pod("y", "a", (("app", "web"),), ip="10.1.2.10")
DNS = k8s.Pod(
    "kube-system",
    "dns",
    (("app", "dns"),),
    ip="10.1.2.53",
    ports=(k8s.ContainerPort("dns", 53, "UDP"),),
)
HOSTNET = k8s.Pod("x", "h", (("app", "web"),), ip="192.168.0.5", host_network=True)
NO_IP = k8s.Pod("x", "pending", (("app", "db"),))
PODS = (XA, XB, YA, DNS, HOSTNET, NO_IP)
NAMESPACES: dict[str, k8s.Labels] = {
    "x": (("team", "blue"),),
    "y": (("team", "red"),),
    "kube-system": (),
}

P = Permission
ANY_PEER_ANY_PORT = P("", 0, 0, 65535)


def policy(spec: dict[str, Any], ns: str = "x", name: str = "p") -> k8s.NetworkPolicy:
    pol = k8s.parse_object(
        {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}
    )
    assert isinstance(pol, k8s.NetworkPolicy)
    return pol


def rules_of(pod: k8s.Pod, *specs: dict[str, Any]) -> PodRules:
    policies = [policy(s, name=f"p{i}") for i, s in enumerate(specs)]
    return pod_rules(pod, policies, PeerResolver(NAMESPACES, PODS))


SELECT_WEB = {"matchLabels": {"app": "web"}}

CASES: list[
    tuple[str, dict[str, Any], tuple[Permission, ...] | None, tuple[Permission, ...] | None]
] = [
    (
        "not selected: both directions open",
        {"podSelector": {"matchLabels": {"app": "db"}}},
        None,
        None,
    ),
    ("empty podSelector selects every pod of the namespace", {"podSelector": {}}, (), None),
    (
        "ingress: [] denies all ingress, egress stays open",
        {"podSelector": SELECT_WEB, "ingress": []},
        (),
        None,
    ),
    (
        "default policyTypes: Egress too when egress rules exist",
        {"podSelector": SELECT_WEB, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]},
        (),
        (P("", 17, 53, 53),),
    ),
    (
        "policyTypes Egress only: ingress open, egress: [] denies",
        {"podSelector": SELECT_WEB, "policyTypes": ["Egress"], "ingress": [{}]},
        None,
        (),
    ),
    (
        "policyTypes Ingress only: egress rules are ignored",
        {"podSelector": SELECT_WEB, "policyTypes": ["Ingress"], "egress": [{}]},
        (),
        None,
    ),
    (
        "rule without peers or ports allows everything",
        {"podSelector": SELECT_WEB, "ingress": [{}]},
        (ANY_PEER_ANY_PORT,),
        None,
    ),
    (
        "podSelector alone: the policy's namespace only (y/a has app=web too, and is left out)",
        {"podSelector": SELECT_WEB, "ingress": [{"from": [{"podSelector": SELECT_WEB}]}]},
        (P("10.1.1.10/32"),),
        None,
    ),
    (
        "namespaceSelector alone: every pod of matching namespaces",
        {
            "podSelector": SELECT_WEB,
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "red"}}}]}],
        },
        (P("10.1.2.10/32"),),
        None,
    ),
    (
        "empty namespaceSelector: all namespaces, kube-system too; no hostNetwork or IP-less pod",
        {"podSelector": SELECT_WEB, "ingress": [{"from": [{"namespaceSelector": {}}]}]},
        (P("10.1.1.10/32"), P("10.1.1.11/32"), P("10.1.2.10/32"), P("10.1.2.53/32")),
        None,
    ),
    (
        "podSelector AND namespaceSelector in one peer",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "dns"}}}
                    ]
                }
            ],
        },
        (P("10.1.2.53/32"),),
        None,
    ),
    (
        "two peers are ORed",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"team": "red"}}},
                        {"podSelector": {"matchLabels": {"app": "db"}}},
                    ]
                }
            ],
        },
        (P("10.1.1.11/32"), P("10.1.2.10/32")),
        None,
    ),
    (
        "namespace name label is always there",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            }
                        }
                    ]
                }
            ],
        },
        (P("10.1.2.53/32"),),
        None,
    ),
    (
        "matchExpressions NotIn / Exists / DoesNotExist",
        {
            "podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchExpressions": [
                                    {"key": "team", "operator": "NotIn", "values": ["blue"]}
                                ]
                            },
                            "podSelector": {
                                "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]
                            },
                        }
                    ]
                }
            ],
        },
        (P("10.1.2.10/32"), P("10.1.2.53/32")),
        None,
    ),
    (
        "ipBlock with except: the cidr minus the excepts, covering pod addresses too",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {
                    "from": [
                        {
                            "ipBlock": {
                                "cidr": "10.1.1.0/24",
                                "except": ["10.1.1.0/26", "10.1.1.192/26"],
                            }
                        }
                    ]
                }
            ],
        },
        (P("10.1.1.128/26"), P("10.1.1.64/26")),
        None,
    ),
    (
        "ports: TCP default, UDP, a range with endPort, a protocol without port",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {
                    "ports": [
                        {"port": 80},
                        {"protocol": "UDP", "port": 5000, "endPort": 5010},
                        {"protocol": "UDP"},
                    ]
                }
            ],
        },
        (P("", 6, 80, 80), P("", 17, 0, 65535)),
        None,
    ),
    (
        "ports of one rule are ORed and adjacent ranges merge",
        {
            "podSelector": SELECT_WEB,
            "ingress": [{"ports": [{"port": 80, "endPort": 89}, {"port": 90}, {"port": 443}]}],
        },
        (P("", 6, 80, 90), P("", 6, 443, 443)),
        None,
    ),
    (
        "SCTP ports become SCTP any port (VPP sees SCTP ports as 0/0)",
        {"podSelector": SELECT_WEB, "ingress": [{"ports": [{"protocol": "SCTP", "port": 9000}]}]},
        (P("", 132, 0, 65535),),
        None,
    ),
    (
        "ingress named port resolves against the pod itself (name and protocol)",
        {
            "podSelector": SELECT_WEB,
            "ingress": [
                {"ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}, {"port": "dns"}]}
            ],
        },
        (P("", 6, 8080, 8080), P("", 17, 53, 53)),
        None,
    ),
    (
        "egress named port resolves per destination pod",
        {
            "podSelector": SELECT_WEB,
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "http"}]}],
        },
        None,
        (P("10.1.1.10/32", 6, 8080, 8080), P("10.1.1.11/32", 6, 9090, 9090)),
    ),
    (
        "egress named port within an ipBlock: only pods inside it; numeric ports keep the block",
        {
            "podSelector": SELECT_WEB,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "10.1.1.0/24", "except": ["10.1.1.10/32"]}}],
                    "ports": [{"port": "http"}, {"port": 22}],
                }
            ],
        },
        None,
        (
            P("10.1.1.0/29", 6, 22, 22),
            P("10.1.1.11/32", 6, 22, 22),  # a piece of the cidr minus 10.1.1.10/32
            P("10.1.1.11/32", 6, 9090, 9090),  # x/b's "http"
            P("10.1.1.12/30", 6, 22, 22),
            P("10.1.1.128/25", 6, 22, 22),
            P("10.1.1.16/28", 6, 22, 22),
            P("10.1.1.32/27", 6, 22, 22),
            P("10.1.1.64/26", 6, 22, 22),
            P("10.1.1.8/31", 6, 22, 22),
        ),
    ),
    (
        "egress to selected pods with a named port nobody has: nothing",
        {
            "podSelector": SELECT_WEB,
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": "nope"}]}],
        },
        None,
        (),
    ),
]


@pytest.mark.parametrize(("what", "spec", "ingress", "egress"), CASES, ids=[c[0] for c in CASES])
def test_semantics(
    what: str,
    spec: dict[str, Any],
    ingress: tuple[Permission, ...] | None,
    egress: tuple[Permission, ...] | None,
) -> None:
    got = rules_of(XA, spec)
    assert (got.ingress, got.egress) == (ingress, egress)


def test_rules_of_all_selecting_policies_are_ored() -> None:
    got = rules_of(
        XA,
        {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]},
        {
            "podSelector": SELECT_WEB,
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
        },
        {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{}]},  # selects x/b, not x/a
    )
    assert got.ingress == (P("", 6, 80, 80), P("10.1.1.11/32"))
    assert got.egress is None


def test_any_protocol_for_a_peer_absorbs_its_port_rules() -> None:
    got = rules_of(
        XA,
        {
            "podSelector": {},
            "ingress": [{"ports": [{"port": 80}]}, {"from": [{"podSelector": {}}]}],
        },
        {
            "podSelector": {},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                    "ports": [{"port": 5432}],
                }
            ],
        },
    )
    assert got.ingress == (P("", 6, 80, 80), P("10.1.1.10/32"), P("10.1.1.11/32"))


def test_rule_lists_do_not_depend_on_policy_order() -> None:
    specs = [
        {"podSelector": {}, "ingress": [{"ports": [{"port": 81}]}]},
        {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 80}]}],
        },
    ]
    resolver = PeerResolver(NAMESPACES, PODS)
    forward = pod_rules(XA, [policy(s, name=f"p{i}") for i, s in enumerate(specs)], resolver)
    backward = pod_rules(
        XA, [policy(s, name=f"p{i}") for i, s in reversed(list(enumerate(specs)))], resolver
    )
    assert forward == backward


def test_sctp_widening_is_counted_per_port_spec() -> None:
    got = rules_of(
        XA,
        {
            "podSelector": {},
            "ingress": [
                {"ports": [{"protocol": "SCTP", "port": 9000}, {"protocol": "SCTP"}, {"port": 80}]}
            ],
        },
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "SCTP", "port": "assoc"}]}],
        },
    )
    assert got.sctp_widened == frozenset({"x/p0 ingress[0].ports[0]", "x/p1 egress[0].ports[0]"})


def test_host_network_and_ip_less_pods_are_not_policed() -> None:
    spec = {"podSelector": {}, "ingress": []}
    assert rules_of(HOSTNET, spec) == PodRules()
    assert rules_of(NO_IP, spec) == PodRules()


@pytest.mark.parametrize(
    ("cidr", "excepts", "expected"),
    [
        ("10.0.0.0/24", (), ("10.0.0.0/24",)),
        ("10.0.0.0/24", ("10.0.0.0/25",), ("10.0.0.128/25",)),
        ("10.0.0.0/24", ("10.0.0.0/26", "10.0.0.0/25"), ("10.0.0.128/25",)),
        ("0.0.0.0/0", ("10.0.0.0/8", "192.168.0.0/16"), None),
    ],
)
def test_block_networks(
    cidr: str, excepts: tuple[str, ...], expected: tuple[str, ...] | None
) -> None:
    got = block_networks(k8s.IPBlock(cidr, excepts))
    if expected is not None:
        assert got == expected
    else:  # the complement of two networks in the whole IPv4 space: 8 + 16 - 2 pieces
        assert len(got) == 22 and "11.0.0.0/8" in got and "10.0.0.0/8" not in got


def test_which_pods_a_policy_selects_and_which_policies_touch_a_pod() -> None:
    web = policy({"podSelector": SELECT_WEB, "ingress": []}, name="web")
    from_db = policy(
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": SELECT_WEB}]}],
        },
        name="from-web",
    )
    named = policy(
        {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "http"}]}]},
        name="named",
    )
    cidr = policy(
        {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.1.2.0/24"}}]}]},
        name="cidr",
    )
    everything = [web, from_db, named, cidr]
    assert pods_selected_by(web, PODS) == (("x", "a"),)  # not the hostNetwork pod, not y/a
    assert policies_selecting(XA, everything) == (("x", "cidr"), ("x", "named"), ("x", "web"))
    # y/a is named by from-web (empty namespaceSelector AND app=web) and can be reached by
    # named's named port; cidr names addresses only.
    assert policies_naming(YA, everything, NAMESPACES) == (("x", "from-web"), ("x", "named"))
    assert policies_naming(XB, everything, NAMESPACES) == (("x", "named"),)
    assert policies_naming(HOSTNET, everything, NAMESPACES) == ()
