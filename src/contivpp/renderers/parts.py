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

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from contivpp.config import AgentConfig
from contivpp.events import indices, k8s
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
from contivpp.model.acl import AclInterface
from contivpp.reconcile.api import Key
from contivpp.renderers import node, pods, policies, policy_rules, services

Owner = tuple[str, ...]
"""("node",), ("mesh",), ("remote", node), ("pod", ns, name), ("nat",), ("service", ns, name),
("source-ranges",), ..."""

Part = dict[Key, object]

NODE: Final[Owner] = ("node",)
MESH: Final[Owner] = ("mesh",)
NAT: Final[Owner] = ("nat",)
NODE_ACLS: Final[Owner] = ("node-acls",)
EGRESS: Final[Owner] = ("egress",)


#: Key prefixes of content-addressed values that several owners may render (each owner
#: renders the same value for the same key); the value exists while one owner renders it.
SHARED_KEY_PREFIXES: Final[tuple[str, ...]] = (
    keys.acl(policies.ACL_NAME_PREFIX),  # pod tables, named after their rules, and reflect
)


def is_frontend(key: Key) -> bool:
    """A service frontend's NAT mapping: services may claim the same one (a conflict of the
    cluster's configuration, resolved for the smallest owner, not a renderer bug)."""
    return key.startswith((keys.NAT44_STATIC_PREFIX, keys.NAT44_LB_PREFIX)) or (
        key.startswith(keys.ROUTE_PREFIX) and key.endswith("/32/via/-/dev/-")
    )


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


Facts = Mapping[Owner, object]
"""Results of *fact* kinds (intermediate results other parts read, e.g. one pod's policy
rules), by owner; an owner without a fact has none (its kind's default)."""


@attrs.frozen
class PartKind(Generic[InputsT]):
    """How one kind of owner is enumerated, fed and rendered.

    A ``fact`` kind renders an intermediate result instead of desired values; fact kinds are
    rendered first, and the inputs of other kinds may read their facts.
    """

    name: str
    owners: Callable[[ClusterState], Iterable[Owner]]
    inputs: Callable[[ClusterState, Owner, Facts], InputsT | None]
    render: Callable[[InputsT], Any]
    fact: bool = False
    #: Facts are rendered in stage order (a fact may read facts of lower stages).
    stage: int = 0
    #: The owners whose inputs read this fact: rendered again when the fact changes.
    readers: Callable[[ClusterState, Owner], Iterable[Owner]] | None = None


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


def _node_inputs(state: ClusterState, owner: Owner, facts: Facts) -> NodeInputs | None:
    if state.node_id is None:
        return None
    return NodeInputs(state.config, state.node_id, node.mgmt_ips(state, state.config.node_name))


def _node_render(i: NodeInputs) -> Part:
    return node.render_node_base(i.config, i.node_id, i.host_ips)


# ---- the VXLAN mesh (the bridge domain lists every tunnel) -------------------------------------


def _mesh_owners(state: ClusterState) -> Iterable[Owner]:
    return (MESH,) if state.node_id is not None else ()


def _mesh_inputs(state: ClusterState, owner: Owner, facts: Facts) -> MeshInputs | None:
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


def _remote_inputs(state: ClusterState, owner: Owner, facts: Facts) -> RemoteInputs | None:
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


def _pod_inputs(state: ClusterState, owner: Owner, facts: Facts) -> PodInputs | None:
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


def _service_inputs(state: ClusterState, owner: Owner, facts: Facts) -> ServiceInputs | None:
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


def _nat_inputs(state: ClusterState, owner: Owner, facts: Facts) -> services.ServiceContext | None:
    return service_context(state)


# ---- the node's ACLs: network policies and service source ranges ------------------------------


@attrs.frozen
class PodPolicyInputs:
    """What one local pod's effective policy rules are computed from."""

    pod: k8s.Pod  # its Kubernetes object, with this node's address for it
    policies: tuple[k8s.NetworkPolicy, ...]  # the policies that select it
    namespaces: tuple[tuple[str, k8s.Labels], ...]  # labels of the namespaces peers live in
    peers: tuple[k8s.Pod, ...]  # every pod a rule of those policies may name (a superset)


@attrs.frozen
class PodAclInputs:
    """One local pod's table: its own ingress rules and every local egress source."""

    interface: str
    ip: str
    ingress: policy_rules.Permissions | None
    sources: tuple[policies.EgressSource, ...]  # the EGRESS fact (one object for all pods)
    node_networks: tuple[str, ...]


@attrs.frozen
class NodeAclInputs:
    node: policies.NodePolicyContext
    sources: tuple[policies.EgressSource, ...]
    source_ranges: tuple[str, ...]  # the source-range ACLs of LoadBalancer services


NO_RULES = policy_rules.PodRules()


def rules_owner(namespace: str, name: str) -> Owner:
    return ("rules", namespace, name)


def _local_pod_object(state: ClusterState, key: tuple[str, str]) -> k8s.Pod | None:
    """A local pod's Kubernetes object (or a bare one until it is reflected), with the
    address this node gave it; None when the pod is not wired here with an address."""
    local = state.local_pods.get(key)
    if local is None or not local.ip:
        return None
    obj = state.of_kind("Pod").get(key)
    pod = obj if isinstance(obj, k8s.Pod) else k8s.Pod(local.namespace, local.name)
    return attrs.evolve(pod, ip=local.ip)


def _unreflected_local(state: ClusterState) -> Iterator[tuple[str, str]]:
    objects = state.of_kind("Pod")
    return (k for k in state.local_pods if k not in objects)


def _policy_peers(state: ClusterState, policy: k8s.NetworkPolicy) -> set[tuple[str, str]]:
    """The pods a policy's rules may name, from the selection index."""
    if indices.names_every_pod(policy):
        return set(state.of_kind("Pod")) | set(state.local_pods)
    found: set[tuple[str, str]] = set()
    for sid, sel in indices.selections_of(policy).items():
        if sid[3] == "pods":
            continue
        found.update(state.index.pods_selected(sid))
        # A local pod not reflected from Kubernetes yet has no labels but is still a pod:
        # a selector peer that takes every pod of its namespaces names it too.
        if not sel.pod_selector.match_labels and not sel.pod_selector.match_expressions:
            found.update(_unreflected_local(state))
    return found


def _selecting(state: ClusterState, key: tuple[str, str]) -> list[k8s.NetworkPolicy]:
    """The policies that select a pod (through the index; a pod without labels yet is
    selected by the selectors of its namespace that match no labels, which are unanchored)."""
    nps = state.of_kind("NetworkPolicy")
    if key in state.of_kind("Pod"):
        sids = [s for s in state.index.selections_matching(key) if s[0] == "NetworkPolicy"]
    else:
        sids = [
            s
            for s in state.index.unanchored.get(key[0], ())
            if s[0] == "NetworkPolicy" and state.index.selections[s].pod_selector.matches(())
        ]
    found = (nps.get((s[1], s[2])) for s in sorted(sids) if s[3] == "pods")
    return [p for p in found if isinstance(p, k8s.NetworkPolicy)]


def _rules_owners(state: ClusterState) -> Iterable[Owner]:
    if state.node_id is None:
        return ()
    return (rules_owner(*k) for k in sorted(state.local_pods) if _selecting(state, k))


def _rules_inputs(state: ClusterState, owner: Owner, facts: Facts) -> PodPolicyInputs | None:
    key = (owner[1], owner[2])
    pod = _local_pod_object(state, key)
    selecting = _selecting(state, key) if pod is not None and state.node_id is not None else []
    if pod is None or not selecting:
        return None
    peer_keys: set[tuple[str, str]] = set()
    for policy in selecting:
        peer_keys |= _policy_peers(state, policy)
    objects = state.of_kind("Pod")
    peers = []
    for peer_key in sorted(peer_keys):
        peer = _local_pod_object(state, peer_key) or objects.get(peer_key)
        if isinstance(peer, k8s.Pod):
            peers.append(peer)
    namespaces = state.of_kind("Namespace")
    labels = []
    for ns in sorted({p.namespace for p in peers}):
        obj = namespaces.get(("", ns))
        labels.append((ns, obj.labels if isinstance(obj, k8s.Namespace) else ()))
    return PodPolicyInputs(pod, tuple(selecting), tuple(labels), tuple(peers))


@functools.lru_cache(maxsize=64)
def _resolver(
    namespaces: tuple[tuple[str, k8s.Labels], ...], peers: tuple[k8s.Pod, ...]
) -> policy_rules.PeerResolver:
    """One resolver (and its memo of rule permissions) for every pod whose rules name the same
    peers: pods selected by the same policies do not compute the same permissions again."""
    return policy_rules.PeerResolver(dict(namespaces), peers)


def _rules_render(i: PodPolicyInputs) -> policy_rules.PodRules:
    return policy_rules.pod_rules(i.pod, i.policies, _resolver(i.namespaces, i.peers))


def pod_acl_owner(namespace: str, name: str) -> Owner:
    return ("pod-acl", namespace, name)


def _wired(state: ClusterState) -> Iterator[tuple[str, str]]:
    """Local pods with an address, sorted."""
    return (k for k in sorted(state.local_pods) if state.local_pods[k].ip)


def _rules_readers(state: ClusterState, owner: Owner) -> Iterable[Owner]:
    return (EGRESS, pod_acl_owner(owner[1], owner[2]))


def _egress_owners(state: ClusterState) -> Iterable[Owner]:
    return (EGRESS,) if state.node_id is not None else ()


def _egress_inputs(
    state: ClusterState, owner: Owner, facts: Facts
) -> tuple[tuple[str, policy_rules.Permissions], ...] | None:
    """(address, egress permissions) of every local pod isolated for egress."""
    if state.node_id is None:
        return None
    found = []
    for key in _wired(state):
        rules = facts.get(rules_owner(*key))
        if isinstance(rules, policy_rules.PodRules) and rules.egress is not None:
            found.append((state.local_pods[key].ip, rules.egress))
    return tuple(found)


def _egress_render(
    sources: tuple[tuple[str, policy_rules.Permissions], ...],
) -> tuple[policies.EgressSource, ...]:
    return policies.order_sources(policies.EgressSource(ip, egress) for ip, egress in sources)


def _egress_readers(state: ClusterState, owner: Owner) -> Iterable[Owner]:
    yield NODE_ACLS
    yield from (pod_acl_owner(*k) for k in _wired(state))


def _sources(facts: Facts) -> tuple[policies.EgressSource, ...]:
    sources = facts.get(EGRESS, ())
    assert isinstance(sources, tuple)
    return sources


def _pod_acl_owners(state: ClusterState) -> Iterable[Owner]:
    if state.node_id is None:
        return ()
    return (pod_acl_owner(*k) for k in _wired(state))


def _pod_acl_inputs(state: ClusterState, owner: Owner, facts: Facts) -> PodAclInputs | None:
    key = (owner[1], owner[2])
    local = state.local_pods.get(key)
    if state.node_id is None or local is None or not local.ip:
        return None
    rules = facts.get(rules_owner(*key), NO_RULES)
    assert isinstance(rules, policy_rules.PodRules)
    return PodAclInputs(
        pods.tap_name(local.container_id),
        local.ip,
        rules.ingress,
        _sources(facts),
        policies.node_context(state).node_networks,
    )


def _pod_acl_render(i: PodAclInputs) -> Part:
    table = policies.pod_output_rules(i.ip, i.ingress, i.sources, i.node_networks)
    values = policies.render_pod_acls(i.interface, table)
    return {**values.bindings, **values.acls}


def _node_acl_owners(state: ClusterState) -> Iterable[Owner]:
    return (NODE_ACLS,) if state.node_id is not None else ()


def _node_acl_inputs(state: ClusterState, owner: Owner, facts: Facts) -> NodeAclInputs | None:
    if state.node_id is None:
        return None
    found = (state.of_kind("Service").get(k) for k in state.index.source_range_services)
    ranges = (services.source_ranges_acl_name(s) for s in found if isinstance(s, k8s.Service))
    return NodeAclInputs(policies.node_context(state), _sources(facts), tuple(sorted(ranges)))


def _node_acl_render(i: NodeAclInputs) -> Part:
    rules = policies.node_global_rules(i.sources, i.node.node_networks)
    values = policies.render_node_acls(i.node.uplinks, rules)
    part: Part = {**values.bindings, **values.acls}
    host_key = keys.acl_interface(node.HOST_TAP)
    host = part.get(host_key)
    if i.source_ranges:
        # The host link's ingress filters LoadBalancer sources first; what passes them goes on
        # to the reflect ACL when policies bind one, else to "permit the rest".
        if isinstance(host, AclInterface):
            part[host_key] = attrs.evolve(host, ingress=(*i.source_ranges, *host.ingress))
        else:
            part.update(services.source_ranges_binding(i.source_ranges))
    return part


KINDS: Final[dict[str, PartKind[Any]]] = {
    kind.name: kind
    for kind in (
        PartKind("node", _node_owners, _node_inputs, _node_render),
        PartKind("mesh", _mesh_owners, _mesh_inputs, _mesh_render),
        PartKind("remote", _remote_owners, _remote_inputs, _remote_render),
        PartKind("pod", _pod_owners, _pod_inputs, _pod_render),
        PartKind("nat", _nat_owners, _nat_inputs, services.render_nat_node),
        PartKind("service", _service_owners, _service_inputs, _service_render),
        PartKind("rules", _rules_owners, _rules_inputs, _rules_render, True, 0, _rules_readers),
        PartKind(
            "egress", _egress_owners, _egress_inputs, _egress_render, True, 1, _egress_readers
        ),
        PartKind("pod-acl", _pod_acl_owners, _pod_acl_inputs, _pod_acl_render),
        PartKind("node-acls", _node_acl_owners, _node_acl_inputs, _node_acl_render),
    )
}


def kind_of(owner: Owner) -> PartKind[Any]:
    return KINDS[owner[0]]


def all_owners(state: ClusterState) -> Iterator[Owner]:
    """Every owner of desired values (fact owners are not: see :func:`all_facts`)."""
    for kind in KINDS.values():
        if not kind.fact:
            yield from kind.owners(state)


def fact_owners(state: ClusterState) -> Iterator[Owner]:
    for kind in KINDS.values():
        if kind.fact:
            yield from kind.owners(state)


def all_facts(state: ClusterState) -> dict[Owner, object]:
    """Every fact of a state, from scratch."""
    facts: dict[Owner, object] = {}
    for kind in sorted(KINDS.values(), key=lambda k: k.stage):
        if kind.fact:
            for owner in kind.owners(state):
                inputs = kind.inputs(state, owner, facts)
                if inputs is not None:
                    facts[owner] = kind.render(inputs)
    return facts


def render_part(state: ClusterState, owner: Owner, facts: Facts) -> Part:
    """One owner's part rendered from scratch (empty if the owner does not exist)."""
    kind = kind_of(owner)
    inputs = kind.inputs(state, owner, facts)
    if inputs is None:
        return {}
    part: Part = kind.render(inputs)
    return part


def _dirty_selected(dirty: set[Owner], state: ClusterState, sid: indices.SelectionId) -> None:
    """The rules of the local pods a policy selects (their readers follow when they change)."""
    dirty.update(rules_owner(*k) for k in state.index.pods_selected(sid) if k in state.local_pods)
    # local pods not reflected yet are in no selection: those of the policy's namespace
    dirty.update(rules_owner(*k) for k in _unreflected_local(state) if k[0] == sid[1])


def _dirty_naming(
    dirty: set[Owner], before: ClusterState, after: ClusterState, key: tuple[str, str]
) -> None:
    """A pod changed (labels, address, ports, or wired here): its own rules, and the rules of
    the local pods selected by the policies that name it as a peer (or name every pod)."""
    dirty.add(rules_owner(*key))
    for state in (before, after):
        for sid in state.index.selections_matching(key):
            if sid[0] == "NetworkPolicy" and sid[3] != "pods":
                _dirty_selected(dirty, state, (*sid[:3], "pods"))
        policies_naming = set(state.index.every_pod_policies)
        if key in state.local_pods and key not in state.of_kind("Pod"):
            policies_naming.update(state.index.any_pod_peer_policies)  # no selection holds it
        for ns, name in sorted(policies_naming):
            _dirty_selected(dirty, state, ("NetworkPolicy", ns, name, "pods"))


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
            key = (event.pod_namespace, event.pod_name)
            dirty.update((pod_owner(*key), pod_acl_owner(*key)))
            if after.of_kind("NetworkPolicy") or before.of_kind("NetworkPolicy"):
                _dirty_naming(dirty, before, after, key)
        case NodeIDAllocated(name=name) | NodeIDReleased(name=name):
            if name != me:
                dirty.update((remote_owner(name), MESH))
        case K8sUpserted() | K8sDeleted():
            ref = event.ref if isinstance(event, K8sDeleted) else k8s.ref_of(event.obj)
            key = (ref.namespace, ref.name)
            if ref.kind == "Node":
                dirty.add(NODE if ref.name == me else remote_owner(ref.name))
                # every node address is a NodePort frontend; this node's are policy exceptions
                dirty.add(NAT)
                if ref.name == me:
                    dirty.add(NODE_ACLS)
                    dirty.update(pod_acl_owner(*k) for k in _wired(after))
                    # this node's addresses decide which endpoints are its host-network
                    # pods (mapped in the main VRF), whatever the service's type
                    for state in (before, after):
                        dirty.update(_service_owners(state))
                for state in (before, after):
                    dirty.update(service_owner(*k) for k in state.index.node_port_services)
            elif ref.kind == "Service":
                dirty.add(service_owner(*key))
                if any(key in st.index.source_range_services for st in (before, after)):
                    dirty.add(NODE_ACLS)
            elif ref.kind == "NetworkPolicy":
                policy = ("NetworkPolicy", ref.namespace, ref.name, "pods")
                for state in (before, after):
                    _dirty_selected(dirty, state, policy)
            elif ref.kind == "Namespace":
                for state in (before, after):
                    for sid in state.index.by_namespace_labels:
                        if sid[0] == "NetworkPolicy":
                            _dirty_selected(dirty, state, (*sid[:3], "pods"))
            elif ref.kind == "Pod":
                _dirty_naming(dirty, before, after, key)
            elif ref.kind == "EndpointSlice":
                for state in (before, after):
                    eps = state.of_kind("EndpointSlice").get(key)
                    if isinstance(eps, k8s.EndpointSlice) and eps.service_name:
                        dirty.add(service_owner(ref.namespace, eps.service_name))
    return dirty
