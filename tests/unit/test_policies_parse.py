"""NetworkPolicy input validation: what the API server would refuse is refused at parse time.

A bad policy never becomes an event, so it changes nothing (the other policies keep working);
the error names the policy and the field, like every other parse error.
"""

from __future__ import annotations

from typing import Any

import pytest

from contivpp.errors import K8sObjectError
from contivpp.events import k8s


def _policy(rule: dict[str, Any], direction: str = "ingress") -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "web-allow", "namespace": "prod"},
        "spec": {"podSelector": {}, direction: [rule]},
    }


@pytest.mark.parametrize(
    ("rule", "direction", "field", "reason"),
    [
        (
            {"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]},
            "ingress",
            "spec.ingress[0].from[0].ipBlock.cidr",
            "'10.0.0.300/8' is not a CIDR",
        ),
        (
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["nonsense"]}}]},
            "egress",
            "spec.egress[0].to[0].ipBlock.except[0]",
            "'nonsense' is not a CIDR",
        ),
        (
            {"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]},
            "ingress",
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "10.1.0.0/24 is not inside cidr 10.0.0.0/16",
        ),
        (
            {"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]}}]},
            "ingress",
            "spec.ingress[0].from[0].ipBlock.except[0]",
            "10.0.0.0/16 is not inside cidr 10.0.0.0/16",
        ),
        (
            {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]},
            "ingress",
            "spec.ingress[0].from[0]",
            "ipBlock cannot be combined with podSelector or namespaceSelector",
        ),
        (
            {"from": [{}]},
            "ingress",
            "spec.ingress[0].from[0]",
            "a peer needs podSelector, namespaceSelector or ipBlock",
        ),
        (
            {"ports": [{"protocol": "ICMP", "port": 80}]},
            "ingress",
            "spec.ingress[0].ports[0].protocol",
            "unsupported protocol 'ICMP' (TCP, UDP or SCTP)",
        ),
        (
            {"ports": [{"port": 99999}]},
            "egress",
            "spec.egress[0].ports[0].port",
            "port 99999 out of range 1-65535",
        ),
        (
            {"ports": [{"port": "Not_A_Name"}]},
            "ingress",
            "spec.ingress[0].ports[0].port",
            "'Not_A_Name' is not a port name (1-15 lowercase letters, digits and '-')",
        ),
        (
            {"ports": [{"port": "http", "endPort": 90}]},
            "ingress",
            "spec.ingress[0].ports[0].endPort",
            "endPort needs a numeric port",
        ),
        (
            {"ports": [{"port": 90, "endPort": 80}]},
            "egress",
            "spec.egress[0].ports[0].endPort",
            "endPort 80 is below port 90",
        ),
    ],
)
def test_invalid_policy_fields_are_named(
    rule: dict[str, Any], direction: str, field: str, reason: str
) -> None:
    with pytest.raises(K8sObjectError) as info:
        k8s.parse_object(_policy(rule, direction))
    assert info.value.obj_ref == "NetworkPolicy prod/web-allow"
    assert info.value.field == field
    assert info.value.reason == reason


def test_valid_ipblock_keeps_its_network_and_excepts() -> None:
    pol = k8s.parse_object(
        _policy({"from": [{"ipBlock": {"cidr": "10.0.0.7/8", "except": ["10.1.0.0/16"]}}]})
    )
    assert isinstance(pol, k8s.NetworkPolicy)
    # The API accepts host bits in a CIDR; the network is what the rule means.
    assert pol.ingress[0].peers[0].ip_block == k8s.IPBlock("10.0.0.0/8", ("10.1.0.0/16",))


def test_policy_types_default_ignores_an_empty_egress_list() -> None:
    pol = k8s.parse_object(
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "x"},
            "spec": {"podSelector": {}, "ingress": [], "egress": []},
        }
    )
    assert isinstance(pol, k8s.NetworkPolicy)
    assert pol.policy_types == ("Ingress",)
