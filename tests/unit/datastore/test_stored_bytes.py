"""The exact bytes the KSR stores for a few objects, written out by hand from docs/ksr.md.

The KSR integration tests compute what etcd must hold with the KSR's own ``encode_object``,
so an encoding bug (a dropped field, a kept churn field, non-canonical JSON, a wrong key)
would be on both sides of their comparison. These pin the key and the value literally: the
key layout table and the "Values" section of docs/ksr.md, canonical JSON (sorted keys, no
spaces, UTF-8), ``null`` fields dropped, annotations kept only under ``contivpp.io``.
"""

from __future__ import annotations

from contivpp.datastore.values import encode_object


def test_namespace() -> None:
    raw = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "prod",
            "uid": "u-ns",
            "labels": {"team": "ünïcode"},
            "resourceVersion": "812",
            "annotations": {"contivpp.io/keep": "1", "other.io/drop": "x"},
            "creationTimestamp": "2026-11-29T12:00:00Z",
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    encoded = encode_object(raw)
    assert encoded.key == "/vnf-agent/contiv-ksr/k8s/namespace/prod"
    assert encoded.value == (  # UTF-8 as is, not \u escapes
        b'{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{"contivpp.io/keep":'
        b'"1"},"labels":{"team":"\xc3\xbcn\xc3\xafcode"},"name":"prod","uid":"u-ns"}}'
    )


def test_pod() -> None:
    raw = {
        "kind": "Pod",
        "metadata": {
            "name": "web-0",
            "namespace": "prod",
            "uid": "u-pod",
            "labels": {"app": "web"},
            "managedFields": [{"manager": "kubelet"}],
            "resourceVersion": "9",
        },
        "spec": {
            "nodeName": "node-1",
            "hostNetwork": None,
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "main",
                    "image": "nginx",
                    "ports": [{"containerPort": 8080, "protocol": "TCP", "name": None}],
                }
            ],
        },
        "status": {
            "podIP": "10.1.1.2",
            "hostIP": "192.168.16.1",
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    encoded = encode_object(raw)
    assert encoded.key == "/vnf-agent/contiv-ksr/k8s/pod/web-0/namespace/prod"
    assert encoded.value == (
        b'{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"},"name":"web-0",'
        b'"namespace":"prod","uid":"u-pod"},"spec":{"containers":[{"name":"main","ports":'
        b'[{"containerPort":8080,"protocol":"TCP"}]}],"nodeName":"node-1"},"status":'
        b'{"hostIP":"192.168.16.1","podIP":"10.1.1.2"}}'
    )


def test_service() -> None:
    raw = {
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "77"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
        "status": {"loadBalancer": {}},
    }
    encoded = encode_object(raw)
    assert encoded.key == "/vnf-agent/contiv-ksr/k8s/service/web/namespace/prod"
    assert encoded.value == (
        b'{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"prod"},'
        b'"spec":{"clusterIP":"10.96.0.10","ports":[{"name":"http","port":80,"protocol":"TCP",'
        b'"targetPort":8080}],"selector":{"app":"web"},"type":"ClusterIP"},'
        b'"status":{"loadBalancer":{}}}'
    )
