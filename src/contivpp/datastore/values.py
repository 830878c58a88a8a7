"""The value stored under each reflected-object key: trimmed Kubernetes API JSON.

The KSR writes and the agents read this format, so it is defined in one place. A value is
the object as the API returns it, cut down to what :func:`contivpp.events.k8s.parse_object`
reads (plus identity: ``uid``, and Contiv's ``contivpp.io`` annotations). Everything that
churns without changing the network (``resourceVersion``, ``managedFields``, conditions,
timestamps) is dropped, and the JSON is canonical (sorted keys, no spaces), so an object whose
relevant part did not change encodes to the same bytes and is not rewritten. The schema is
documented in ``docs/ksr.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias

import attrs

from contivpp.datastore import keys
from contivpp.errors import K8sObjectError
from contivpp.events.k8s import K8sObject, Kind, ObjectRef, describe, parse_object, ref_of

API_VERSIONS: dict[Kind, str] = {
    "Namespace": "v1",
    "Pod": "v1",
    "Service": "v1",
    "EndpointSlice": "discovery.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Node": "v1",
}
KEPT_ANNOTATION_PREFIX = "contivpp.io"

# A shape says which part of a JSON value to keep: True keeps the value whole, a dict keeps
# those keys (each with its own shape), a one-element list applies its shape to every item.
Shape: TypeAlias = "bool | dict[str, Shape] | list[Shape]"
_K = True
_META: dict[str, Shape] = {"name": _K, "namespace": _K, "labels": _K, "uid": _K}
_SHAPES: dict[Kind, dict[str, Shape]] = {
    "Namespace": {},
    "Pod": {
        "spec": {
            "nodeName": _K,
            "hostNetwork": _K,
            "containers": [
                {
                    "name": _K,
                    "ports": [{"name": _K, "containerPort": _K, "protocol": _K, "hostPort": _K}],
                }
            ],
        },
        "status": {"podIP": _K, "hostIP": _K},
    },
    "Service": {
        "spec": {
            "type": _K,
            "clusterIP": _K,
            "clusterIPs": _K,
            "ipFamilies": _K,
            "externalIPs": _K,
            "loadBalancerSourceRanges": _K,
            "ports": [{"name": _K, "protocol": _K, "port": _K, "targetPort": _K, "nodePort": _K}],
            "selector": _K,
            "externalTrafficPolicy": _K,
            "internalTrafficPolicy": _K,
            "healthCheckNodePort": _K,
            "sessionAffinity": _K,
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": _K}},
        },
        "status": {"loadBalancer": {"ingress": [{"ip": _K}]}},
    },
    "EndpointSlice": {
        "addressType": _K,
        "endpoints": [
            {
                "addresses": _K,
                "conditions": {"ready": _K, "serving": _K, "terminating": _K},
                "nodeName": _K,
                "targetRef": {"kind": _K, "namespace": _K, "name": _K},
            }
        ],
        "ports": [{"name": _K, "port": _K, "protocol": _K}],
    },
    "NetworkPolicy": {
        "spec": {"podSelector": _K, "policyTypes": _K, "ingress": _K, "egress": _K},
    },
    "Node": {
        "spec": {"podCIDR": _K},
        "status": {"addresses": _K},
    },
}


def _project(value: object, shape: Shape) -> object:
    if shape is True:
        return value
    if isinstance(shape, dict):
        if not isinstance(value, Mapping):
            return value
        # null and missing mean the same to the parser; dropping null keeps values small.
        return {
            name: _project(value[name], sub)
            for name, sub in shape.items()
            if value.get(name) is not None
        }
    if isinstance(shape, list):
        if not isinstance(value, list):
            return value
        return [_project(item, shape[0]) for item in value]
    return value


def trim(raw: Mapping[str, object], kind: Kind) -> dict[str, object]:
    """The stored form of a valid API object of ``kind`` (see the module docstring)."""
    meta = raw.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    out_meta = _project(meta, _META)
    assert isinstance(out_meta, dict)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        kept = {
            k: v
            for k, v in annotations.items()
            if isinstance(k, str) and k.startswith(KEPT_ANNOTATION_PREFIX)
        }
        if kept:
            out_meta["annotations"] = kept
    body = _project(raw, _SHAPES[kind])
    assert isinstance(body, dict)
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": out_meta, **body}


def dumps(value: Mapping[str, object]) -> bytes:
    """Canonical JSON bytes: equal objects always give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@attrs.frozen
class Encoded:
    """A valid object, ready for etcd."""

    ref: ObjectRef
    key: str
    value: bytes


def encode_object(raw: object) -> Encoded:
    """Validate ``raw`` (with :func:`parse_object`) and give its key and stored value.

    Raises :class:`~contivpp.errors.K8sObjectError` naming the object and the field when the
    object lacks a field renderers need or has it with a wrong type.
    """
    obj = parse_object(raw)
    assert isinstance(raw, Mapping)  # parse_object accepts nothing else
    ref = ref_of(obj)
    return Encoded(ref, keys.object_key(ref), dumps(trim(raw, ref.kind)))


@attrs.frozen
class Decoded:
    obj: K8sObject
    raw: dict[str, object]


def decode_value(key: str, value: bytes) -> Decoded:
    """Parse a stored value back into the object; it must be the object its key names.

    Raises :class:`~contivpp.errors.K8sObjectError` for a value that is not JSON, not a valid
    object, or another object than the key says.
    """
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise K8sObjectError(key, "<value>", f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise K8sObjectError(key, "<value>", f"expected an object, got {type(raw).__name__}")
    obj = parse_object(raw)
    expected = keys.parse_object_key(key)
    actual = ref_of(obj)
    if expected != actual:
        raise K8sObjectError(describe(raw), "metadata", f"object does not match its key {key}")
    return Decoded(obj, raw)


def minimal_raw(ref: ObjectRef) -> dict[str, object]:
    """The smallest API-shaped object naming ``ref`` (what a delete event carries)."""
    meta: dict[str, object] = {"name": ref.name}
    if ref.namespace:
        meta["namespace"] = ref.namespace
    return {"apiVersion": API_VERSIONS[ref.kind], "kind": ref.kind, "metadata": meta}
