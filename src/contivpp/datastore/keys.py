"""Every etcd key contivpp reads or writes is built and parsed here, and only here.

The KSR writes and every agent reads the same keys; one module keeps both sides (and the
node-ID allocation, which shares the KSR prefix) on one layout, Contiv's
(``plugins/ksr/model/ksrkey``): ``/vnf-agent/contiv-ksr/k8s/<kind>/<name>[/namespace/<ns>]``.
Contiv reflected Endpoints under ``k8s/endpoints/``; we reflect EndpointSlices, under
``k8s/endpointslice/``. The leader-election key lives outside the KSR prefix, as in Contiv, so
that wiping the reflected data does not also wipe the leadership.
"""

from __future__ import annotations

from contivpp.events.k8s import KINDS, NAMESPACED, Kind, ObjectRef

KSR_PREFIX = "/vnf-agent/contiv-ksr/"
K8S_PREFIX = KSR_PREFIX + "k8s/"
STATUS_PREFIX = KSR_PREFIX + "status/"
KSR_STATUS_KEY = STATUS_PREFIX + "ksr"
ALLOCATED_IDS_PREFIX = KSR_PREFIX + "allocatedIDs/"
ELECTION_KEY = "/contiv-ksr/election"

# Kubernetes kind -> the folder under k8s/ (Contiv's names, "endpointslice" is ours).
KIND_FOLDERS: dict[Kind, str] = {
    "Namespace": "namespace",
    "Pod": "pod",
    "Service": "service",
    "EndpointSlice": "endpointslice",
    "NetworkPolicy": "policy",
    "Node": "node",
}
_FOLDER_KINDS: dict[str, Kind] = {folder: kind for kind, folder in KIND_FOLDERS.items()}
assert set(KIND_FOLDERS) == set(KINDS)


def kind_prefix(kind: Kind) -> str:
    """The prefix of every key of one kind, e.g. ``/vnf-agent/contiv-ksr/k8s/pod/``."""
    return f"{K8S_PREFIX}{KIND_FOLDERS[kind]}/"


def object_key(ref: ObjectRef) -> str:
    """The key of one object: ``k8s/pod/<name>/namespace/<ns>``, ``k8s/namespace/<ns>`` ..."""
    if ref.kind in NAMESPACED:
        return f"{kind_prefix(ref.kind)}{ref.name}/namespace/{ref.namespace}"
    return f"{kind_prefix(ref.kind)}{ref.name}"


def parse_object_key(key: str) -> ObjectRef | None:
    """The object a key names, or None if the key is not a reflected-object key."""
    if not key.startswith(K8S_PREFIX):
        return None
    parts = key[len(K8S_PREFIX) :].split("/")
    kind = _FOLDER_KINDS.get(parts[0])
    if kind is None:
        return None
    if kind in NAMESPACED:
        if len(parts) == 4 and parts[1] and parts[2] == "namespace" and parts[3]:
            return ObjectRef(kind, parts[3], parts[1])
        return None
    if len(parts) == 2 and parts[1]:
        return ObjectRef(kind, "", parts[1])
    return None


def kind_of_key(key: str) -> Kind | None:
    """The kind whose folder holds ``key`` (even a malformed key), or None."""
    if not key.startswith(K8S_PREFIX):
        return None
    return _FOLDER_KINDS.get(key[len(K8S_PREFIX) :].split("/", 1)[0])


def allocated_id_key(node_id: int) -> str:
    """``allocatedIDs/<id>``: the node-ID allocation record of one node (written by agents)."""
    return f"{ALLOCATED_IDS_PREFIX}{node_id}"


def agent_prefix(node_name: str) -> str:
    """``/vnf-agent/<node>/``: the per-node agent prefix (Contiv's external config)."""
    return f"/vnf-agent/{node_name}/"
