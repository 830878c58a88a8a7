"""Cluster state as a pure fold of events into an immutable snapshot.

``fold(state, event)`` returns a new :class:`ClusterState` and never mutates the old one, so a
renderer holding a snapshot always sees a consistent world, and the same events always give the
same state. The maps are HAMTs (``immutables.Map``): an update costs O(log n) instead of a copy,
which keeps a 100k-pod cluster cheap to fold event by event.

The fold may raise :class:`~contivpp.errors.ContivError` (IPAM exhausted, a conflicting node
ID, ...). The state is then unchanged: the caller logs the error, answers whoever is waiting,
and goes on with the next event.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TypeVar, assert_never

import attrs
import immutables

from contivpp import ipam
from contivpp.config import AgentConfig
from contivpp.errors import InputError, IPAMError
from contivpp.events import indices, k8s
from contivpp.events.frozen import replace
from contivpp.events.types import (
    AllocatorPositionRestored,
    CNIAdd,
    CNIDel,
    ConfigChanged,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
    ResyncRequested,
    VPPConnected,
    VPPRestarted,
)

T = TypeVar("T")
ObjKey = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped kinds."""


@attrs.frozen
class NodeEntry:
    name: str
    id: int
    ip_addresses: tuple[str, ...] = ()


@attrs.frozen
class LocalPod:
    """A pod sandbox on this node, wired through CNI."""

    namespace: str
    name: str
    container_id: str
    netns: str
    ifname: str
    ip: str = ""  # "" until this node has an ID (and so a pod subnet)


_EMPTY: immutables.Map[ObjKey, k8s.K8sObject] = immutables.Map()


@attrs.frozen
class ClusterState:
    config: AgentConfig
    node_id: int | None = None
    nodes: immutables.Map[str, NodeEntry] = immutables.Map()
    objects: immutables.Map[str, immutables.Map[ObjKey, k8s.K8sObject]] = immutables.Map()
    local_pods: immutables.Map[ObjKey, LocalPod] = immutables.Map()
    #: container ID -> the local pod wired with it (IDs name VPP interfaces: one pod each).
    containers: immutables.Map[str, ObjKey] = immutables.Map()
    allocator: ipam.PodAllocator | None = None
    index: indices.Indices = indices.Indices()
    vpp_epoch: int = 0
    resyncs: int = 0

    def of_kind(self, kind: k8s.Kind) -> immutables.Map[ObjKey, k8s.K8sObject]:
        return self.objects.get(kind, _EMPTY)


def initial_state(config: AgentConfig) -> ClusterState:
    return ClusterState(config=config)


def fold(state: ClusterState, event: Event) -> ClusterState:
    """Apply one event. Pure: returns a new state, or raises and leaves ``state`` as it was."""
    match event:
        case K8sUpserted(obj=obj):
            ref = k8s.ref_of(obj)
            return _object_changed(state, ref, obj)
        case K8sDeleted(ref=ref):
            if (ref.namespace, ref.name) not in state.of_kind(ref.kind):
                return state
            return _object_changed(state, ref, None)
        case NodeIDAllocated():
            return _node_id_allocated(state, event)
        case NodeIDReleased(name=name, id=node_id):
            entry = state.nodes.get(name)
            if entry is None or entry.id != node_id:
                return state
            if name == state.config.node_name:
                raise IPAMError(f"refusing to release this node's ID {node_id} while running")
            return replace(state, nodes=state.nodes.delete(name))
        case CNIAdd():
            return _pod_added(state, event)
        case CNIDel():
            return _pod_deleted(state, event)
        case AllocatorPositionRestored(ip=ip):
            if state.allocator is None:
                raise IPAMError(f"cannot restore the allocator position {ip}: no node ID yet")
            return replace(state, allocator=state.allocator.resume_after(IPv4Address(ip)))
        case VPPRestarted():
            return replace(state, vpp_epoch=state.vpp_epoch + 1)
        case ResyncRequested():
            return replace(state, resyncs=state.resyncs + 1)
        case VPPConnected():
            return state
        case ConfigChanged(config=config):
            if config.node_name != state.config.node_name:
                raise IPAMError("the node name cannot change while the agent runs")
            if state.local_pods and config.ipam != state.config.ipam:
                raise IPAMError("the IPAM plan cannot change while pods are wired")
            return replace(state, config=config)
        case _:
            assert_never(event)


def _object_changed(
    state: ClusterState, ref: k8s.ObjectRef, obj: k8s.K8sObject | None
) -> ClusterState:
    """Store (or drop, ``obj`` None) one Kubernetes object and keep the indices current."""
    key = (ref.namespace, ref.name)
    kind_map = state.of_kind(ref.kind)
    old = kind_map.get(key)
    if old == obj:
        return state
    kind_map = kind_map.delete(key) if obj is None else kind_map.set(key, obj)
    objects = state.objects.set(ref.kind, kind_map)
    idx = state.index
    namespaces = objects.get("Namespace", _EMPTY)
    if ref.kind == "Pod":
        idx = indices.pod_changed(idx, key, _as(k8s.Pod, old), _as(k8s.Pod, obj), namespaces)
    elif ref.kind == "Namespace":
        if getattr(old, "labels", None) != getattr(obj, "labels", None):
            idx = indices.namespace_changed(idx, ref.name, objects.get("Pod", _EMPTY), namespaces)
    elif ref.kind == "EndpointSlice":
        idx = indices.slice_changed(
            idx, key, _as(k8s.EndpointSlice, old), _as(k8s.EndpointSlice, obj)
        )
    if ref.kind == "Service":
        idx = indices.service_changed(idx, key, _as(k8s.Service, obj))
    if ref.kind == "NetworkPolicy":
        idx = indices.policy_changed(idx, key, _as(k8s.NetworkPolicy, obj))
    if ref.kind in ("Service", "NetworkPolicy"):
        before = indices.selections_of(old) if old is not None else {}
        after = indices.selections_of(obj) if obj is not None else {}
        pods = objects.get("Pod", _EMPTY)
        for sid in sorted(before.keys() | after.keys()):
            idx = indices.set_selection(idx, sid, after.get(sid), pods, namespaces)
    return replace(state, objects=objects, index=idx)


def _as(cls: type[T], obj: object) -> T | None:
    return obj if isinstance(obj, cls) else None


def _node_id_allocated(state: ClusterState, event: NodeIDAllocated) -> ClusterState:
    # An ID outside the address plan would break every render that touches that node.
    ipam.check_node_id(state.config.ipam, event.id, event.name)
    for other in state.nodes.values():
        if other.id == event.id and other.name != event.name:
            raise IPAMError(
                f"node ID {event.id} claimed by {event.name} is already held by {other.name}: "
                "refusing an overlapping pod subnet"
            )
    entry = NodeEntry(event.name, event.id, event.ip_addresses)
    new = replace(state, nodes=state.nodes.set(event.name, entry))
    if event.name != state.config.node_name or state.node_id == event.id:
        return new
    if state.node_id is not None and any(p.ip for p in state.local_pods.values()):
        raise IPAMError(
            f"this node's ID changed from {state.node_id} to {event.id} while pods hold "
            "addresses of the old subnet"
        )
    subnet = ipam.node_pod_subnet(state.config.ipam, event.id)  # raises if the ID does not fit
    allocator = ipam.PodAllocator(subnet)
    pods = new.local_pods
    # Pods that arrived before the ID get addresses now, in a deterministic order.
    for key in sorted(pods.keys()):
        allocator, ip = allocator.allocate(key)
        pods = pods.set(key, attrs.evolve(pods[key], ip=str(ip)))
    return replace(new, node_id=event.id, allocator=allocator, local_pods=pods)


def _pod_added(state: ClusterState, event: CNIAdd) -> ClusterState:
    key = (event.pod_namespace, event.pod_name)
    _check_ifname(event.ifname)
    holder = state.containers.get(event.container_id)
    if holder is not None and holder != key:
        raise InputError(
            f"container ID {event.container_id} of pod {key[0]}/{key[1]} is already wired "
            f"for pod {holder[0]}/{holder[1]}"
        )
    containers = state.containers
    previous = state.local_pods.get(key)
    if previous is not None and previous.container_id != event.container_id:
        containers = containers.delete(previous.container_id)  # a new sandbox replaces it
    allocator = state.allocator
    ip = ""
    if allocator is not None:
        if event.ip:
            allocator = allocator.claim(key, IPv4Address(event.ip))
            ip = event.ip
        else:
            allocator, address = allocator.allocate(key)  # same pod again -> same address
            ip = str(address)
    elif event.ip:
        raise IPAMError(f"cannot restore {event.ip} of pod {key[0]}/{key[1]}: no node ID yet")
    pod = LocalPod(
        namespace=event.pod_namespace,
        name=event.pod_name,
        container_id=event.container_id,
        netns=event.netns,
        ifname=event.ifname,
        ip=ip,
    )
    return replace(
        state,
        local_pods=state.local_pods.set(key, pod),
        containers=containers.set(event.container_id, key),
        allocator=allocator,
    )


def _check_ifname(name: str) -> None:
    """Linux's rules for an interface name (``dev_valid_name``): 1-15 bytes, not "." or "..",
    no "/", ":" or whitespace."""
    raw = name.encode("utf-8", "surrogateescape")
    if not raw or len(raw) > 15 or name in (".", "..") or any(c in name for c in "/: \t\n\r\v\f"):
        raise InputError(
            f"CNI_IFNAME {name!r} is not a valid Linux interface name (1-15 bytes, "
            "not '.' or '..', no '/', ':' or whitespace)"
        )


def _pod_deleted(state: ClusterState, event: CNIDel) -> ClusterState:
    key = (event.pod_namespace, event.pod_name)
    pod = state.local_pods.get(key)
    # A DEL for an older sandbox of a pod that was since re-created must not unwire the new one.
    if pod is None or (event.container_id and pod.container_id != event.container_id):
        return state
    allocator = state.allocator.release(key) if state.allocator is not None else None
    return replace(
        state,
        local_pods=state.local_pods.delete(key),
        containers=state.containers.delete(pod.container_id),
        allocator=allocator,
    )
