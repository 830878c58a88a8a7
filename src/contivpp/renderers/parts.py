"""The desired set in parts: who owns each value, what it is computed from, what an event dirties.

Every desired value has exactly one *owner*: this node, the VXLAN mesh, one remote node, one
local pod (and, as they arrive, one service, one ACL table ...). A part kind says, for its
owners:

- ``owners(state)``: every owner that exists in a state (for a full render);
- ``inputs(state, owner)``: the explicit inputs of that owner's part, taken from the state, or
  None when the owner does not exist. Inputs are immutable values, so "did this part change?"
  is an identity or equality test, not a render;
- ``render(inputs)``: the part itself, a pure function of the inputs.

:func:`dirty_owners` maps one event (and the states before and after it) to the owners whose
inputs may have changed, through the indices kept in the state, never by scanning all pods.
It may over-approximate (an owner whose inputs turn out equal costs one comparison); it must
never miss an owner, which the oracle property test checks against :func:`render_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Generic, TypeVar

import attrs

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.state import ClusterState, LocalPod
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
)
from contivpp.model import keys
from contivpp.reconcile.api import Key
from contivpp.renderers import node, pods, services

Owner = tuple[str, ...]
"""("node",), ("mesh",), ("remote", node), ("pod", ns, name), ("nat",), ("service", ns, name),
("source-ranges",), ..."""

Part = dict[Key, object]

NODE: Final[Owner] = ("node",)
MESH: Final[Owner] = ("mesh",)
NAT: Final[Owner] = ("nat",)
SOURCE_RANGES: Final[Owner] = ("source-ranges",)


#: Key prefixes of content-addressed values that several owners may render (each owner
#: renders the same value for the same key); the value exists while one owner renders it.
SHARED_KEY_PREFIXES: Final[tuple[str, ...]] = ()


def is_shared(key: Key) -> bool:
    if SHARED_KEY_PREFIXES and key.startswith(SHARED_KEY_PREFIXES):
        return True
    # A service frontend nothing may answer gets a /32 drop route; services may share an
    # external or LoadBalancer IP, and then render the same route.
    return key.startswith(keys.ROUTE_PREFIX) and key.endswith("/32/via/-/dev/-")


def remote_owner(name: str) -> Owner:
    return ("remote", name)


def pod_owner(namespace: str, name: str) -> Owner:
    return ("pod", namespace, name)


InputsT = TypeVar("InputsT")


@attrs.frozen
class PartKind(Generic[InputsT]):
    """How one kind of owner is enumerated, fed and rendered."""

    name: str
    owners: Callable[[ClusterState], Iterable[Owner]]
    inputs: Callable[[ClusterState, Owner], InputsT | None]
    render: Callable[[InputsT], Part]


@attrs.frozen
class NodeInputs:
    config: AgentConfig
    node_id: int
    host_ips: tuple[str, ...]


@attrs.frozen
class MeshInputs:
    config: AgentConfig
    node_id: int
    remote_ids: tuple[int, ...]


@attrs.frozen
class RemoteInputs:
    config: AgentConfig
    node_id: int
    remote: node.RemoteNode


@attrs.frozen
class PodInputs:
    config: AgentConfig
    node_id: int
    pod: LocalPod


# ---- this node ---------------------------------------------------------------------------------


def _node_owners(state: ClusterState) -> Iterable[Owner]:
    return (NODE,) if state.node_id is not None else ()


def _node_inputs(state: ClusterState, owner: Owner) -> NodeInputs | None:
    if state.node_id is None:
        return None
    return NodeInputs(state.config, state.node_id, node.mgmt_ips(state, state.config.node_name))


def _node_render(i: NodeInputs) -> Part:
    return node.render_node_base(i.config, i.node_id, i.host_ips)


# ---- the VXLAN mesh (the bridge domain lists every tunnel) -------------------------------------


def _mesh_owners(state: ClusterState) -> Iterable[Owner]:
    return (MESH,) if state.node_id is not None else ()


def _mesh_inputs(state: ClusterState, owner: Owner) -> MeshInputs | None:
    if state.node_id is None:
        return None
    me = state.config.node_name
    ids = tuple(sorted(e.id for e in state.nodes.values() if e.name != me))
    return MeshInputs(state.config, state.node_id, ids)


def _mesh_render(i: MeshInputs) -> Part:
    return node.render_mesh(i.config, i.node_id, i.remote_ids)


# ---- one remote node ---------------------------------------------------------------------------


def _remote_owners(state: ClusterState) -> Iterable[Owner]:
    if state.node_id is None:
        return ()
    me = state.config.node_name
    return (remote_owner(name) for name in state.nodes if name != me)


def _remote_inputs(state: ClusterState, owner: Owner) -> RemoteInputs | None:
    entry = state.nodes.get(owner[1])
    if state.node_id is None or entry is None or entry.name == state.config.node_name:
        return None
    return RemoteInputs(state.config, state.node_id, node.remote_node(state, entry))


def _remote_render(i: RemoteInputs) -> Part:
    return node.render_remote(i.config, i.node_id, i.remote)


# ---- one local pod -----------------------------------------------------------------------------


def _pod_owners(state: ClusterState) -> Iterable[Owner]:
    if state.node_id is None:
        return ()
    return (pod_owner(ns, name) for ns, name in state.local_pods)


def _pod_inputs(state: ClusterState, owner: Owner) -> PodInputs | None:
    pod = state.local_pods.get((owner[1], owner[2]))
    if state.node_id is None or pod is None:
        return None
    return PodInputs(state.config, state.node_id, pod)


def _pod_render(i: PodInputs) -> Part:
    part = pods.render_pod(i.config, i.node_id, i.pod)
    if part:
        part.update(services.nat_pod_values(pods.tap_name(i.pod.container_id)))
    return part


# ---- services ----------------------------------------------------------------------------------


@attrs.frozen
class ServiceInputs:
    ctx: services.ServiceContext
    service: k8s.Service
    slices: tuple[k8s.EndpointSlice, ...]


@attrs.frozen
class SourceRangeInputs:
    acl_names: tuple[str, ...]


_context_memo: list[tuple[tuple[object, ...], services.ServiceContext]] = []


def service_context(state: ClusterState) -> services.ServiceContext | None:
    """The node-level inputs of every service, computed once per (config, node ID, Nodes)
    (memoized on their identity: all services of one event share one context)."""
    if state.node_id is None:
        return None
    nodes = state.of_kind("Node")
    memo_key = (state.config, state.node_id, nodes)
    if _context_memo and all(a is b for a, b in zip(_context_memo[0][0], memo_key, strict=True)):
        return _context_memo[0][1]
    ctx = services.service_context(
        state.config,
        state.node_id,
        [n for _, n in sorted(nodes.items()) if isinstance(n, k8s.Node)],
    )
    _context_memo[:] = [(memo_key, ctx)]
    return ctx


def service_owner(namespace: str, name: str) -> Owner:
    return ("service", namespace, name)


def _service_owners(state: ClusterState) -> Iterable[Owner]:
    if state.node_id is None:
        return ()
    return (service_owner(ns, name) for ns, name in state.of_kind("Service"))


def _service_inputs(state: ClusterState, owner: Owner) -> ServiceInputs | None:
    ctx = service_context(state)
    key = (owner[1], owner[2])
    service = state.of_kind("Service").get(key)
    if ctx is None or not isinstance(service, k8s.Service):
        return None
    if key not in state.index.node_port_services:
        # Only node ports depend on the nodes' addresses: a ClusterIP service's inputs stay
        # equal when a node changes, so it is not rendered again.
        ctx = attrs.evolve(ctx, node_ips=())
    slices = state.of_kind("EndpointSlice")
    found = (slices[k] for k in sorted(state.index.slices_of(key)))
    return ServiceInputs(ctx, service, tuple(s for s in found if isinstance(s, k8s.EndpointSlice)))


def _service_render(i: ServiceInputs) -> Part:
    return services.render_service(i.ctx, i.service, i.slices)


def _nat_owners(state: ClusterState) -> Iterable[Owner]:
    return (NAT,) if state.node_id is not None else ()


def _nat_inputs(state: ClusterState, owner: Owner) -> services.ServiceContext | None:
    return service_context(state)


def _source_range_owners(state: ClusterState) -> Iterable[Owner]:
    return (
        (SOURCE_RANGES,) if state.node_id is not None and state.index.source_range_services else ()
    )


def _source_range_inputs(state: ClusterState, owner: Owner) -> SourceRangeInputs | None:
    if state.node_id is None or not state.index.source_range_services:
        return None
    found = (state.of_kind("Service").get(k) for k in state.index.source_range_services)
    names = (services.source_ranges_acl_name(s) for s in found if isinstance(s, k8s.Service))
    return SourceRangeInputs(tuple(sorted(names)))


def _source_range_render(i: SourceRangeInputs) -> Part:
    return services.source_ranges_binding(i.acl_names)


KINDS: Final[dict[str, PartKind[Any]]] = {
    kind.name: kind
    for kind in (
        PartKind("node", _node_owners, _node_inputs, _node_render),
        PartKind("mesh", _mesh_owners, _mesh_inputs, _mesh_render),
        PartKind("remote", _remote_owners, _remote_inputs, _remote_render),
        PartKind("pod", _pod_owners, _pod_inputs, _pod_render),
        PartKind("nat", _nat_owners, _nat_inputs, services.render_nat_node),
        PartKind("service", _service_owners, _service_inputs, _service_render),
        PartKind("source-ranges", _source_range_owners, _source_range_inputs, _source_range_render),
    )
}


def kind_of(owner: Owner) -> PartKind[Any]:
    return KINDS[owner[0]]


def all_owners(state: ClusterState) -> Iterator[Owner]:
    for kind in KINDS.values():
        yield from kind.owners(state)


def render_part(state: ClusterState, owner: Owner) -> Part:
    """One owner's part rendered from scratch (empty if the owner does not exist)."""
    kind = kind_of(owner)
    inputs = kind.inputs(state, owner)
    return {} if inputs is None else kind.render(inputs)


class Everything:
    """:func:`dirty_owners`' answer when an event can change every part (a new node ID, a new
    configuration)."""


EVERYTHING: Final = Everything()


def dirty_owners(
    before: ClusterState, after: ClusterState, event: Event
) -> set[Owner] | Everything:
    """The owners whose inputs ``event`` may have changed (a superset; never a miss)."""
    if before.config is not after.config or before.node_id != after.node_id:
        return EVERYTHING
    dirty: set[Owner] = set()
    me = after.config.node_name
    match event:
        case CNIAdd() | CNIDel():
            dirty.add(pod_owner(event.pod_namespace, event.pod_name))
        case NodeIDAllocated(name=name) | NodeIDReleased(name=name):
            if name != me:
                dirty.update((remote_owner(name), MESH))
        case K8sUpserted() | K8sDeleted():
            ref = event.ref if isinstance(event, K8sDeleted) else k8s.ref_of(event.obj)
            key = (ref.namespace, ref.name)
            if ref.kind == "Node":
                dirty.add(NODE if ref.name == me else remote_owner(ref.name))
                # every node address is a NodePort frontend
                dirty.add(NAT)
                for state in (before, after):
                    dirty.update(service_owner(*k) for k in state.index.node_port_services)
            elif ref.kind == "Service":
                dirty.update((service_owner(*key), SOURCE_RANGES))
            elif ref.kind == "EndpointSlice":
                for state in (before, after):
                    eps = state.of_kind("EndpointSlice").get(key)
                    if isinstance(eps, k8s.EndpointSlice) and eps.service_name:
                        dirty.add(service_owner(ref.namespace, eps.service_name))
    return dirty
