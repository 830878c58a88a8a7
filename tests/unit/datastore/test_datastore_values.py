"""Stored values: trimmed API JSON that parses to exactly what the full object parses to, in
canonical bytes that churn does not change; bad objects and bad values are refused by name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contivpp.datastore import keys
from contivpp.datastore.values import decode_value, encode_object, minimal_raw, trim
from contivpp.errors import K8sObjectError
from contivpp.events.k8s import KINDS, ObjectRef, parse_object, parse_ref

CHURN_META = {
    "resourceVersion": "4711",
    "generation": 3,
    "creationTimestamp": "2026-01-01T00:00:00Z",
    "managedFields": [{"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}],
    "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "uid": "u-rs"}],
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
}


def full_objects() -> list[dict[str, Any]]:
    """One realistic object per kind, as the API returns it (lots of fields we do not keep)."""
    meta = {"uid": "u-1", **copy.deepcopy(CHURN_META)}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "prod", "labels": {"team": "a"}, **meta},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web-0",
                "namespace": "prod",
                "labels": {"app": "web"},
                **meta,
                "annotations": {"contivpp.io/custom-if": "memif1", "other": "x"},
            },
            "spec": {
                "nodeName": "node-1",
                "hostNetwork": False,
                "serviceAccountName": "default",
                "volumes": [{"name": "v", "emptyDir": {}}],
                "containers": [
                    {
                        "name": "main",
                        "image": "nginx:1.25",
                        "env": [{"name": "A", "value": "1"}],
                        "resources": {"limits": {"cpu": "1"}},
                        "ports": [
                            {"name": "http", "containerPort": 80, "protocol": "TCP"},
                            {"containerPort": 53, "protocol": "UDP", "hostPort": 53},
                        ],
                    },
                    {"name": "sidecar", "image": "envoy"},
                ],
            },
            "status": {
                "phase": "Running",
                "podIP": "10.1.1.2",
                "podIPs": [{"ip": "10.1.1.2"}],
                "hostIP": "192.168.16.1",
                "startTime": "2026-01-01T00:00:01Z",
                "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}],
                "containerStatuses": [{"name": "main", "restartCount": 0, "ready": True}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "prod", **meta},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "externalIPs": ["1.2.3.4"],
                "ipFamilies": ["IPv4"],
                "selector": {"app": "web"},
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
                "externalTrafficPolicy": "Local",
                "internalTrafficPolicy": "Local",
                "loadBalancerSourceRanges": ["192.0.2.0/24"],
                "healthCheckNodePort": 32000,
                "allocateLoadBalancerNodePorts": True,
                "ports": [
                    {
                        "name": "http",
                        "protocol": "TCP",
                        "port": 80,
                        "targetPort": "http",
                        "nodePort": 30080,
                        "appProtocol": "http",
                    },
                    {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353},
                ],
            },
            "status": {
                "loadBalancer": {
                    "ingress": [{"ip": "5.6.7.8", "ipMode": "VIP"}, {"hostname": "lb"}]
                }
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "web-x1",
                "namespace": "prod",
                "labels": {
                    "kubernetes.io/service-name": "web",
                    "endpointslice.kubernetes.io/managed-by": "x",
                },
                **meta,
            },
            "addressType": "IPv4",
            "endpoints": [
                {
                    "addresses": ["10.1.1.2"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "nodeName": "node-1",
                    "zone": "a",
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": "prod",
                        "name": "web-0",
                        "uid": "u-p",
                    },
                },
                {"addresses": ["10.1.2.2"], "conditions": {"ready": False}},
                {
                    "addresses": ["10.1.4.2"],
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                },
                {"addresses": ["10.1.5.2"], "conditions": {"serving": False}},
                {"addresses": ["10.1.3.2"]},
            ],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow", "namespace": "prod", **meta},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"podSelector": {}},
                            {
                                "namespaceSelector": {
                                    "matchExpressions": [
                                        {"key": "team", "operator": "In", "values": ["a", "b"]}
                                    ]
                                }
                            },
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        ],
                        "ports": [
                            {"port": 80},
                            {"protocol": "UDP", "port": "dns", "endPort": None},
                        ],
                    }
                ],
                "egress": [{"to": [], "ports": [{"port": 1000, "endPort": 2000}]}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux"}, **meta},
            "spec": {"podCIDR": "10.1.1.0/24", "podCIDRs": ["10.1.1.0/24"], "providerID": "x"},
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "192.168.16.1"},
                    {"type": "Hostname", "address": "node-1"},
                ],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t"}],
                "nodeInfo": {"kubeletVersion": "v1.30.0"},
                "images": [{"names": ["nginx"], "sizeBytes": 1}],
            },
        },
    ]


@pytest.mark.parametrize("obj", full_objects(), ids=lambda o: o["kind"])
def test_trimmed_value_parses_to_the_same_object(obj: dict[str, Any]) -> None:
    encoded = encode_object(obj)
    stored = json.loads(encoded.value)
    assert parse_object(stored) == parse_object(obj)
    assert encoded.key == keys.object_key(parse_ref(obj))
    assert stored["apiVersion"] == obj["apiVersion"] and stored["kind"] == obj["kind"]
    meta = stored["metadata"]
    assert set(meta) <= {"name", "namespace", "labels", "uid", "annotations"}
    assert meta["uid"] == "u-1"
    assert all(k.startswith("contivpp.io") for k in meta.get("annotations", {}))
    text = encoded.value.decode()
    for churn in (
        "resourceVersion",
        "managedFields",
        "creationTimestamp",
        "ownerReferences",
        "last-applied-configuration",
        "lastHeartbeatTime",
        "appProtocol",
    ):
        assert churn not in text
    assert len(encoded.value) < len(json.dumps(obj))
    # Canonical: the same object with its keys in another order gives the same bytes.
    assert encode_object(_reversed_keys(obj)).value == encoded.value


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def test_pod_annotations_only_contiv_ones_are_kept() -> None:
    pod = full_objects()[1]
    assert json.loads(encode_object(pod).value)["metadata"]["annotations"] == {
        "contivpp.io/custom-if": "memif1"
    }
    del pod["metadata"]["annotations"]["contivpp.io/custom-if"]
    assert "annotations" not in json.loads(encode_object(pod).value)["metadata"]


def test_churn_does_not_change_the_bytes() -> None:
    pod = full_objects()[1]
    before = encode_object(pod).value
    pod["metadata"]["resourceVersion"] = "9999"
    pod["status"]["conditions"][0]["status"] = "False"
    pod["status"]["containerStatuses"][0]["restartCount"] = 5
    pod["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert encode_object(pod).value == before
    pod["metadata"]["labels"]["v"] = "2"
    assert encode_object(pod).value != before


def test_malformed_objects_are_refused_by_name_and_field() -> None:
    pod = full_objects()[1]
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    with pytest.raises(K8sObjectError) as caught:
        encode_object(pod)
    assert caught.value.obj_ref == "Pod prod/web-0"
    assert caught.value.field == "spec.containers[0].ports[0].containerPort"
    with pytest.raises(K8sObjectError):
        encode_object(["not", "an", "object"])


def test_decode_checks_json_shape_and_identity() -> None:
    encoded = encode_object(full_objects()[1])
    decoded = decode_value(encoded.key, encoded.value)
    assert decoded.obj == parse_object(full_objects()[1])
    with pytest.raises(K8sObjectError, match="not JSON"):
        decode_value(encoded.key, b"{")
    with pytest.raises(K8sObjectError, match="expected an object"):
        decode_value(encoded.key, b"[1]")
    other = keys.object_key(ObjectRef("Pod", "prod", "web-1"))
    with pytest.raises(K8sObjectError, match="does not match its key"):
        decode_value(other, encoded.value)


def test_minimal_raw_names_the_object() -> None:
    for kind in KINDS:
        ns = "prod" if kind not in ("Namespace", "Node") else ""
        ref = ObjectRef(kind, ns, "x")
        assert parse_ref(minimal_raw(ref)) == ref


# -- property: whatever the parser reads survives trimming ------------------------------------

names = st.text("abcdefghij-", min_size=1, max_size=8).filter(lambda s: s[0] != "-")
label_maps = st.dictionaries(st.sampled_from(["app", "tier", "team", "a.b/c"]), names, max_size=3)
noise = st.dictionaries(st.sampled_from(["x", "y", "zz", "status2"]), st.integers(), max_size=2)
ports = st.integers(1, 65535)
protocols = st.sampled_from(["TCP", "UDP", "SCTP"])


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    containers = draw(
        st.lists(
            st.builds(
                lambda name, ps, extra: _drop_none({"name": name, "ports": ps, **extra}),
                names,
                _maybe(
                    st.lists(
                        st.builds(
                            lambda n, p, pr, hp: _drop_none(
                                {"name": n, "containerPort": p, "protocol": pr, "hostPort": hp}
                            ),
                            _maybe(names),
                            ports,
                            _maybe(protocols),
                            _maybe(ports),
                        ),
                        max_size=3,
                    )
                ),
                noise,
            ),
            max_size=3,
        )
    )
    spec = _drop_none(
        {
            "nodeName": draw(_maybe(names)),
            "hostNetwork": draw(_maybe(st.booleans())),
            "containers": containers,
            **draw(noise),
        }
    )
    status = _drop_none({"podIP": draw(_maybe(st.just("10.1.1.2"))), **draw(noise)})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _drop_none(
            {"name": draw(names), "namespace": "ns", "labels": draw(_maybe(label_maps))}
        ),
        "spec": spec,
        "status": status,
    }


selectors = st.builds(
    lambda ml, me: _drop_none({"matchLabels": ml, "matchExpressions": me}),
    _maybe(label_maps),
    _maybe(
        st.lists(
            st.builds(
                lambda k, op, vs: {"key": k, "operator": op, "values": vs},
                names,
                st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
                st.lists(names, max_size=2),
            ),
            max_size=2,
        )
    ),
)
peers = st.builds(
    lambda p, n, b: _drop_none({"podSelector": p, "namespaceSelector": n, "ipBlock": b}),
    _maybe(selectors),
    _maybe(selectors),
    _maybe(
        st.builds(
            lambda e: {"cidr": "10.0.0.0/8", "except": e},
            st.lists(st.just("10.1.0.0/16"), max_size=1),
        )
    ),
)
rules = st.lists(
    st.builds(
        lambda ps, pts: _drop_none({"from": ps, "to": ps, "ports": pts}),
        _maybe(st.lists(peers, max_size=2)),
        _maybe(
            st.lists(
                st.builds(
                    lambda pr, p, e: _drop_none({"protocol": pr, "port": p, "endPort": e}),
                    _maybe(protocols),
                    _maybe(st.one_of(ports, names)),
                    _maybe(ports),
                ),
                max_size=2,
            )
        ),
    ),
    max_size=2,
)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": draw(names), "namespace": "ns"},
        "spec": _drop_none(
            {
                "podSelector": draw(_maybe(selectors)),
                "policyTypes": draw(
                    _maybe(st.lists(st.sampled_from(["Ingress", "Egress"]), max_size=2))
                ),
                "ingress": draw(_maybe(rules)),
                "egress": draw(_maybe(rules)),
            }
        ),
    }


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    service_ports = st.lists(
        st.builds(
            lambda n, pr, p, tp, np: _drop_none(
                {"name": n, "protocol": pr, "port": p, "targetPort": tp, "nodePort": np}
            ),
            _maybe(names),
            _maybe(protocols),
            ports,
            _maybe(st.one_of(ports, names, ports.map(str))),
            _maybe(st.integers(30000, 32767)),
        ),
        max_size=3,
    )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": draw(names), "namespace": "ns"},
        "spec": _drop_none(
            {
                "type": draw(_maybe(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))),
                "clusterIP": draw(_maybe(st.sampled_from(["10.96.0.1", "None"]))),
                "externalIPs": draw(_maybe(st.lists(st.just("1.2.3.4"), max_size=1))),
                "ports": draw(_maybe(service_ports)),
                "selector": draw(_maybe(label_maps)),
                "externalTrafficPolicy": draw(_maybe(st.sampled_from(["Cluster", "Local"]))),
                "internalTrafficPolicy": draw(_maybe(st.sampled_from(["Cluster", "Local"]))),
                "clusterIPs": draw(_maybe(st.lists(st.just("10.96.0.1"), max_size=1))),
                "ipFamilies": draw(_maybe(st.lists(st.sampled_from(["IPv4", "IPv6"]), max_size=2))),
                "loadBalancerSourceRanges": draw(
                    _maybe(st.lists(st.just("192.0.2.0/24"), max_size=1))
                ),
                "healthCheckNodePort": draw(_maybe(st.integers(30000, 32767))),
                "sessionAffinity": draw(_maybe(st.sampled_from(["None", "ClientIP"]))),
                "sessionAffinityConfig": draw(
                    _maybe(
                        st.builds(
                            lambda t: {"clientIP": {"timeoutSeconds": t}}, st.integers(1, 86400)
                        )
                    )
                ),
                **draw(noise),
            }
        ),
        "status": {
            "loadBalancer": draw(
                _maybe(
                    st.builds(
                        lambda i: {"ingress": i},
                        st.lists(
                            st.one_of(st.just({"ip": "5.6.7.8"}), st.just({"hostname": "h"})),
                            max_size=2,
                        ),
                    )
                )
            )
        },
    }


@st.composite
def slices(draw: st.DrawFn) -> dict[str, Any]:
    endpoints = st.lists(
        st.builds(
            lambda a, r, n, t: _drop_none(
                {"addresses": a, "conditions": r, "nodeName": n, "targetRef": t, "zone": "z"}
            ),
            st.lists(st.just("10.1.1.2"), min_size=1, max_size=2),
            _maybe(
                st.builds(
                    lambda r, s, t: _drop_none({"ready": r, "serving": s, "terminating": t}),
                    _maybe(st.booleans()),
                    _maybe(st.booleans()),
                    _maybe(st.booleans()),
                )
            ),
            _maybe(names),
            _maybe(
                st.builds(
                    lambda k, n: {"kind": k, "namespace": "ns", "name": n, "uid": "u"},
                    st.sampled_from(["Pod", "Node"]),
                    names,
                )
            ),
        ),
        max_size=3,
    )
    return _drop_none(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": draw(names),
                "namespace": "ns",
                "labels": draw(_maybe(label_maps)),
            },
            "addressType": draw(_maybe(st.sampled_from(["IPv4", "IPv6"]))),
            "endpoints": draw(_maybe(endpoints)),
            "ports": draw(
                _maybe(
                    st.lists(
                        st.builds(
                            lambda n, p, pr: _drop_none({"name": n, "port": p, "protocol": pr}),
                            _maybe(names),
                            ports,
                            _maybe(protocols),
                        ),
                        max_size=2,
                    )
                )
            ),
        }
    )


@st.composite
def nodes_and_namespaces(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _drop_none({"name": draw(names), "labels": draw(_maybe(label_maps))}),
        }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": draw(names)},
        "spec": _drop_none({"podCIDR": draw(_maybe(st.just("10.1.1.0/24"))), **draw(noise)}),
        "status": {
            "addresses": draw(
                st.lists(
                    st.builds(
                        lambda t: {"type": t, "address": "1.1.1.1"},
                        st.sampled_from(["InternalIP", "Hostname"]),
                    ),
                    max_size=2,
                )
            )
        },
    }


@settings(max_examples=300, deadline=None)
@given(st.one_of(pods(), policies(), services(), slices(), nodes_and_namespaces()))
def test_whatever_the_parser_reads_survives_trimming(obj: dict[str, Any]) -> None:
    try:
        expected = parse_object(obj)
    except K8sObjectError:
        return  # generated an object the parser rejects: encode must reject it too
    stored = json.loads(encode_object(obj).value)
    assert parse_object(stored) == expected
    assert trim(stored, obj["kind"]) == stored  # trimming is idempotent
