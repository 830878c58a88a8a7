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


def _full_service(**spec: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "LoadBalancer",
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10", "fd00::10"],
        "ipFamilies": ["IPv4", "IPv6"],
        "externalIPs": ["198.51.100.1"],
        "loadBalancerSourceRanges": ["192.0.2.0/24", "203.0.113.0/25"],
        "selector": {"app": "web"},
        "externalTrafficPolicy": "Local",
        "internalTrafficPolicy": "Local",
        "healthCheckNodePort": 32000,
        "sessionAffinity": "ClientIP",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "web", "nodePort": 30080},
            {"name": "sctp", "protocol": "SCTP", "port": 9000, "targetPort": 9000},
        ],
    }
    body.update(spec)
    return {
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": body,
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}},
    }


def test_service_carries_every_field_kube_proxy_uses() -> None:
    svc = k8s.parse_object(_full_service())
    assert svc == k8s.Service(
        namespace="prod",
        name="web",
        type="LoadBalancer",
        cluster_ip="10.96.0.10",
        cluster_ips=("10.96.0.10", "fd00::10"),
        ip_families=("IPv4", "IPv6"),
        external_ips=("198.51.100.1",),
        lb_ingress_ips=("203.0.113.7",),
        lb_source_ranges=("192.0.2.0/24", "203.0.113.0/25"),
        ports=(
            k8s.ServicePort("http", "TCP", 80, "web", 30080),
            k8s.ServicePort("sctp", "SCTP", 9000, 9000, 0),
        ),
        selector=(("app", "web"),),
        external_traffic_policy="Local",
        internal_traffic_policy="Local",
        health_check_node_port=32000,
        session_affinity="ClientIP",
        session_affinity_timeout=600,
    )


def test_service_defaults_are_the_api_defaults() -> None:
    svc = k8s.parse_object(
        {"kind": "Service", "metadata": {"name": "a", "namespace": "n"}, "spec": {}}
    )
    assert isinstance(svc, k8s.Service)
    assert (svc.type, svc.external_traffic_policy, svc.internal_traffic_policy) == (
        "ClusterIP",
        "Cluster",
        "Cluster",
    )
    assert (svc.session_affinity, svc.session_affinity_timeout) == ("None", 10800)
    assert (svc.cluster_ips, svc.ip_families, svc.lb_source_ranges) == ((), (), ())
    assert svc.health_check_node_port == 0


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"type": "Ingress"}, "spec.type", "unknown value 'Ingress'"),
        ({"externalTrafficPolicy": "Nearest"}, "spec.externalTrafficPolicy", "unknown value"),
        ({"internalTrafficPolicy": "local"}, "spec.internalTrafficPolicy", "unknown value"),
        ({"sessionAffinity": "Cookie"}, "spec.sessionAffinity", "unknown value 'Cookie'"),
        (
            {"ports": [{"port": 80, "protocol": "ICMP"}]},
            "spec.ports[0].protocol",
            "unknown value 'ICMP'",
        ),
        ({"ipFamilies": ["IPv5"]}, "spec.ipFamilies[0]", "unknown value 'IPv5'"),
        ({"loadBalancerSourceRanges": "10.0.0.0/8"}, "spec.loadBalancerSourceRanges", "list"),
        ({"healthCheckNodePort": "x"}, "spec.healthCheckNodePort", "expected an integer"),
    ],
)
def test_malformed_service_names_the_field(
    spec: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(K8sObjectError) as caught:
        k8s.parse_object(_full_service(**spec))
    assert caught.value.obj_ref == "Service prod/web"
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_endpoint_conditions_follow_the_api_nil_rules() -> None:
    # Ready and serving: nil means true; terminating: nil means false (discovery/v1 docs).
    eps = k8s.parse_object(
        {
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-1",
                "namespace": "prod",
                "labels": {"kubernetes.io/service-name": "web"},
            },
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.1.2"]},
                {
                    "addresses": ["10.1.1.3"],
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                    "nodeName": "node-1",
                },
                {"addresses": ["10.1.1.4"], "conditions": {"serving": False}},
            ],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "all"}],
        }
    )
    assert isinstance(eps, k8s.EndpointSlice)
    assert eps.endpoints == (
        k8s.Endpoint(("10.1.1.2",), ready=True, serving=True, terminating=False),
        k8s.Endpoint(
            ("10.1.1.3",), ready=False, serving=True, terminating=True, node_name="node-1"
        ),
        k8s.Endpoint(("10.1.1.4",), ready=True, serving=False, terminating=False),
    )
    # A port without a number means "all ports" in the API; kube-proxy ignores it, so do we.
    assert eps.ports == (k8s.EndpointPort("http", 8080, "TCP"), k8s.EndpointPort("all", 0, "TCP"))


def test_endpoint_condition_with_wrong_type_is_named() -> None:
    raw = {
        "kind": "EndpointSlice",
        "metadata": {"name": "s", "namespace": "prod"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.1.2"], "conditions": {"terminating": "yes"}}],
    }
    with pytest.raises(K8sObjectError) as caught:
        k8s.parse_object(raw)
    assert caught.value.field == "endpoints[0].conditions.terminating"
    assert caught.value.reason == "expected a boolean, got string"
