"""The one key layout: Contiv's ``k8s/<kind>/<name>[/namespace/<ns>]`` under the KSR prefix."""

from __future__ import annotations

import pytest

from contivpp.datastore import keys
from contivpp.events.k8s import KINDS, NAMESPACED, ObjectRef


def test_contiv_layout() -> None:
    assert keys.object_key(ObjectRef("Pod", "default", "web-0")) == (
        "/vnf-agent/contiv-ksr/k8s/pod/web-0/namespace/default"
    )
    assert (
        keys.object_key(ObjectRef("Namespace", "", "prod"))
        == "/vnf-agent/contiv-ksr/k8s/namespace/prod"
    )
    assert keys.object_key(ObjectRef("NetworkPolicy", "a", "p")) == (
        "/vnf-agent/contiv-ksr/k8s/policy/p/namespace/a"
    )
    assert keys.object_key(ObjectRef("EndpointSlice", "a", "s-1")) == (
        "/vnf-agent/contiv-ksr/k8s/endpointslice/s-1/namespace/a"
    )
    assert keys.object_key(ObjectRef("Node", "", "n1")) == "/vnf-agent/contiv-ksr/k8s/node/n1"
    assert keys.allocated_id_key(3) == "/vnf-agent/contiv-ksr/allocatedIDs/3"
    assert keys.KSR_STATUS_KEY.startswith(keys.KSR_PREFIX)
    assert not keys.ELECTION_KEY.startswith(keys.KSR_PREFIX)  # wiping data keeps leadership
    assert keys.agent_prefix("node-1") == "/vnf-agent/node-1/"


@pytest.mark.parametrize("kind", KINDS)
def test_keys_round_trip(kind: str) -> None:
    ref = ObjectRef(kind, "ns-1" if kind in NAMESPACED else "", "name.with-dots")  # type: ignore[arg-type]
    key = keys.object_key(ref)
    assert keys.parse_object_key(key) == ref
    assert keys.kind_of_key(key) == kind
    assert key.startswith(keys.kind_prefix(ref.kind))


@pytest.mark.parametrize(
    "key",
    [
        "/vnf-agent/contiv-ksr/status/ksr",
        "/vnf-agent/contiv-ksr/allocatedIDs/1",
        "/vnf-agent/contiv-ksr/k8s/pod/x",  # namespaced kind without namespace
        "/vnf-agent/contiv-ksr/k8s/pod/x/namespace/",
        "/vnf-agent/contiv-ksr/k8s/pod/x/ns/y",
        "/vnf-agent/contiv-ksr/k8s/node/a/b",
        "/vnf-agent/contiv-ksr/k8s/node/",
        "/vnf-agent/contiv-ksr/k8s/nodeconfig/n1",
        "/other/k8s/pod/x/namespace/y",
    ],
)
def test_other_keys_are_not_object_keys(key: str) -> None:
    assert keys.parse_object_key(key) is None


def test_kind_of_a_malformed_key_in_a_kind_folder() -> None:
    assert keys.kind_of_key("/vnf-agent/contiv-ksr/k8s/pod/garbage") == "Pod"
    assert keys.kind_of_key("/vnf-agent/contiv-ksr/k8s/nodeconfig/n1") is None
    assert keys.kind_of_key("/vnf-agent/contiv-ksr/status/ksr") is None
