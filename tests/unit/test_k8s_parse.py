"""Parsing Kubernetes API JSON into the minimal typed models, and its error messages."""

from __future__ import annotations

import pytest

from contivpp.errors import K8sObjectError
from contivpp.events import k8s


def pod_json(**overrides: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "default",
            "labels": {"app": "web", "tier": "fe"},
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"podIP": "10.1.1.2"},
    }
    obj.update(overrides)
    return obj


def test_pod_keeps_what_renderers_need() -> None:
    pod = k8s.parse_object(pod_json())
    assert pod == k8s.Pod(
        namespace="default",
        name="web-0",
        labels=(("app", "web"), ("tier", "fe")),
        node_name="node-1",
        ip="10.1.1.2",
        ports=(k8s.ContainerPort("http", 8080, "TCP"),),
    )
    assert str(k8s.ref_of(pod)) == "Pod default/web-0"


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda o: o["metadata"].pop("namespace"), "metadata.namespace", "missing"),
        (lambda o: o["metadata"].update(name=7), "metadata.name", "expected a string, got integer"),
        (
            lambda o: o["spec"].update(containers={}),
            "spec.containers",
            "expected a list, got object",
        ),
        (
            lambda o: o["spec"]["containers"][0]["ports"][0].update(containerPort=70000),
            "spec.containers[0].ports[0].containerPort",
            "port 70000 out of range 1-65535",
        ),
        (lambda o: o["status"].update(podIP=["x"]), "status.podIP", "expected a string, got list"),
        (lambda o: o.update(kind="Deployment"), "kind", "unsupported kind 'Deployment'"),
    ],
)
def test_malformed_pod_names_object_and_field(mutate, field, reason) -> None:  # type: ignore[no-untyped-def]
    obj = pod_json()
    mutate(obj)
    with pytest.raises(K8sObjectError) as info:
        k8s.parse_object(obj)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(("Pod ", "Deployment default/web-0:"))


def test_not_an_object_at_all() -> None:
    with pytest.raises(K8sObjectError, match="expected an object, got list"):
        k8s.parse_object([1, 2])


def test_service_with_target_port_names_and_lb_status() -> None:
    svc = k8s.parse_object(
        {
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.10",
                "externalTrafficPolicy": "Local",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "5353"},
                    {"name": "plain", "port": 8080},
                ],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "x"}]}},
        }
    )
    assert isinstance(svc, k8s.Service)
    assert [p.target_port for p in svc.ports] == ["http", 5353, 8080]
    assert svc.ports[0].node_port == 30080
    assert svc.lb_ingress_ips == ("203.0.113.7",)
    assert svc.external_traffic_policy == "Local"


def test_endpoint_slice_ready_defaults_and_target() -> None:
    eps = k8s.parse_object(
        {
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-1",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.1.2"], "targetRef": {"kind": "Pod", "name": "web-0"}},
                {"addresses": ["10.1.2.2"], "conditions": {"ready": False}, "nodeName": "node-2"},
            ],
            "ports": [{"name": "http", "port": 8080}],
        }
    )
    assert isinstance(eps, k8s.EndpointSlice)
    assert eps.service_name == "web"
    assert eps.endpoints[0].ready and eps.endpoints[0].target_pod == ("default", "web-0")
    assert not eps.endpoints[1].ready and eps.endpoints[1].node_name == "node-2"


def test_network_policy_defaults_policy_types_and_parses_peers() -> None:
    pol = k8s.parse_object(
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "podSelector": {
                    "matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]
                },
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                        "ports": [{"port": 5432, "endPort": 5440}],
                    }
                ],
            },
        }
    )
    assert isinstance(pol, k8s.NetworkPolicy)
    assert pol.policy_types == ("Egress", "Ingress")
    assert pol.egress[0].peers[0].ip_block == k8s.IPBlock("10.0.0.0/8", ("10.1.0.0/16",))
    assert pol.egress[0].ports[0] == k8s.PolicyPort("TCP", 5432, 5440)
    assert pol.pod_selector.matches((("app", "db"),))
    assert not pol.pod_selector.matches((("app", "web"),))


def test_bad_selector_operator_is_named() -> None:
    with pytest.raises(K8sObjectError) as info:
        k8s.parse_object(
            {
                "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "default"},
                "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            }
        )
    assert info.value.field == "spec.podSelector.matchExpressions[0].operator"


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (k8s.LabelSelector(), (), True),
        (k8s.LabelSelector((("a", "1"),)), (("a", "1"), ("b", "2")), True),
        (k8s.LabelSelector((("a", "1"),)), (("a", "2"),), False),
        (
            k8s.LabelSelector(match_expressions=(k8s.LabelRequirement("a", "NotIn", ("1",)),)),
            (),
            True,
        ),
        (k8s.LabelSelector(match_expressions=(k8s.LabelRequirement("a", "Exists"),)), (), False),
        (
            k8s.LabelSelector(match_expressions=(k8s.LabelRequirement("a", "DoesNotExist"),)),
            (("a", "x"),),
            False,
        ),
    ],
)
def test_label_selector(selector: k8s.LabelSelector, labels: k8s.Labels, expected: bool) -> None:
    assert selector.matches(labels) is expected


def test_node_and_namespace() -> None:
    node = k8s.parse_object(
        {
            "kind": "Node",
            "metadata": {"name": "node-1"},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        }
    )
    assert node == k8s.Node("node-1", (k8s.NodeAddress("InternalIP", "10.0.0.1"),), "10.244.1.0/24")
    ns = k8s.parse_object({"kind": "Namespace", "metadata": {"name": "kube-system"}})
    assert ns == k8s.Namespace("kube-system")
