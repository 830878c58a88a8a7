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
from contivpp.reconcile.api import Key
from contivpp.renderers import node, pods

Owner = tuple[str, ...]
"""("node",), ("mesh",), ("remote", node name), ("pod", namespace, name), ..."""

Part = dict[Key, object]

NODE: Final[Owner] = ("node",)
MESH: Final[Owner] = ("mesh",)


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
    return pods.render_pod(i.config, i.node_id, i.pod)


KINDS: Final[dict[str, PartKind[Any]]] = {
    kind.name: kind
    for kind in (
        PartKind("node", _node_owners, _node_inputs, _node_render),
        PartKind("mesh", _mesh_owners, _mesh_inputs, _mesh_render),
        PartKind("remote", _remote_owners, _remote_inputs, _remote_render),
        PartKind("pod", _pod_owners, _pod_inputs, _pod_render),
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
            if ref.kind == "Node":
                dirty.add(NODE if ref.name == me else remote_owner(ref.name))
    return dirty
