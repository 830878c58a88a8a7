"""The oracle: incremental rendering always equals a from-scratch ``render(state)``, and the
incrementally kept indices always equal the ones a scan of every object gives.

Random event sequences (this node's and other nodes' IDs, Kubernetes nodes, pods, namespaces
and labels, CNI adds and deletes, restarts, resyncs, out-of-range IDs) go through the
controller, which keeps the desired set in parts and re-renders only what each event dirties.
After every event the kept set must equal the reference render of the state, and no two owners
may render one key (``strict``). Every renderer added to ``renderers.parts`` is covered by
adding its inputs to the event strategy below.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contivpp.config import AgentConfig, MainInterface, UplinkRoute
from contivpp.controller import Controller
from contivpp.events import k8s
from contivpp.events.indices import selections_of
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    ConfigChanged,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
    ResyncRequested,
    VPPRestarted,
)
from contivpp.renderers import policies, render
from contivpp.renderers.services import backends_of

NODES = ("node-1", "node-2", "node-3", "node-4")
# Small universes, so that events meet the same objects again.
NAMESPACES = ("default", "x")
POD_NAMES = ("a", "b")
LABELS = st.lists(
    st.tuples(st.sampled_from(("app", "role")), st.sampled_from(("web", "db"))),
    max_size=2,
    unique_by=lambda kv: kv[0],
).map(lambda kvs: tuple(sorted(kvs)))
# 300 does not fit the default address plan: the fold must reject it without harm.
NODE_IDS = st.sampled_from((1, 2, 3, 4, 5, 300))


#: A node with an uplink whose address is also a Node address below (NodePorts, SNAT pool).
UPLINK = MainInterface(
    "eth1",
    "192.168.16.2/24",
    gateway="192.168.16.254",
    routes=(UplinkRoute("198.18.0.0/15", "192.168.16.253"),),
)


def _node_obj(name: str, ips: tuple[str, ...]) -> k8s.Node:
    return k8s.Node(name, tuple(k8s.NodeAddress("InternalIP", ip) for ip in ips))


node_events = st.one_of(
    st.builds(NodeIDAllocated, st.sampled_from(NODES), NODE_IDS),
    st.builds(NodeIDReleased, st.sampled_from(NODES[1:]), NODE_IDS),
    st.builds(
        lambda n, ips: K8sUpserted(_node_obj(n, ips)),
        st.sampled_from(NODES),
        st.lists(st.sampled_from(("192.168.16.1", "192.168.16.2", "10.9.9.9")), max_size=2).map(
            tuple
        ),
    ),
    st.builds(lambda n: K8sDeleted(k8s.ObjectRef("Node", "", n)), st.sampled_from(NODES)),
)
k8s_events = st.one_of(
    st.builds(
        lambda ns, name, labels, node, ip: K8sUpserted(
            k8s.Pod(ns, name, labels=labels, node_name=node, ip=ip)
        ),
        st.sampled_from(NAMESPACES),
        st.sampled_from(POD_NAMES),
        LABELS,
        st.sampled_from(NODES),
        st.sampled_from(("", "10.1.2.7", "10.1.3.9")),
    ),
    st.builds(
        lambda ns, name: K8sDeleted(k8s.ObjectRef("Pod", ns, name)),
        st.sampled_from(NAMESPACES),
        st.sampled_from(POD_NAMES),
    ),
    st.builds(
        lambda ns, labels: K8sUpserted(k8s.Namespace(ns, labels)),
        st.sampled_from(NAMESPACES),
        LABELS,
    ),
    st.builds(
        lambda ns: K8sDeleted(k8s.ObjectRef("Namespace", "", ns)), st.sampled_from(NAMESPACES)
    ),
)
SELECTORS = st.builds(
    k8s.LabelSelector,
    LABELS,
    st.lists(
        st.builds(
            k8s.LabelRequirement,
            st.sampled_from(("app", "role")),
            st.sampled_from(("In", "NotIn", "Exists", "DoesNotExist")),
            st.lists(st.sampled_from(("web", "db")), max_size=2).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
)
# What the API accepts: an ipBlock alone, or at least one selector.
PEERS = st.one_of(
    st.builds(k8s.PolicyPeer, SELECTORS, st.none() | SELECTORS),
    st.builds(k8s.PolicyPeer, st.none(), SELECTORS),
    st.builds(
        k8s.PolicyPeer,
        ip_block=st.sampled_from(
            (k8s.IPBlock("10.1.0.0/16", ("10.1.2.0/24",)), k8s.IPBlock("10.1.1.2/32"))
        ),
    ),
)
RULES = st.lists(st.builds(k8s.PolicyRule, st.lists(PEERS, max_size=2).map(tuple)), max_size=2)
SERVICE_NAMES = ("s1", "s2")
SERVICE_PORTS = st.lists(
    st.builds(
        k8s.ServicePort,
        st.sampled_from(("http", "http", "dns")),
        st.sampled_from(("TCP", "TCP", "UDP", "SCTP")),
        st.sampled_from((80, 53)),
        st.sampled_from((8080, "web")),
        st.sampled_from((0, 30080, 30053)),
    ),
    min_size=1,
    max_size=2,
    unique_by=lambda p: (p.name, p.protocol),
).map(tuple)


def _service(ns: str, name: str, **fields: object) -> k8s.Service:
    # a cluster IP per (namespace, name): unique in the cluster, as the API guarantees
    index = NAMESPACES.index(ns) * len(SERVICE_NAMES) + SERVICE_NAMES.index(name)
    return k8s.Service(ns, name, cluster_ip=f"10.96.0.{10 + index}", **fields)  # type: ignore[arg-type]


services = st.builds(
    _service,
    st.sampled_from(NAMESPACES),
    st.sampled_from(SERVICE_NAMES),
    type=st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer", "NodePort", "ExternalName")),
    ports=SERVICE_PORTS,
    selector=LABELS,
    external_ips=st.lists(st.sampled_from(("192.0.2.1", "192.0.2.2")), max_size=2).map(tuple),
    lb_ingress_ips=st.lists(st.sampled_from(("198.51.100.1", "192.0.2.2")), max_size=1).map(tuple),
    lb_source_ranges=st.lists(st.sampled_from(("203.0.113.0/24", "10.0.0.0/8")), max_size=2).map(
        tuple
    ),
    external_traffic_policy=st.sampled_from(("Cluster", "Local")),
    internal_traffic_policy=st.sampled_from(("Cluster", "Local")),
    session_affinity=st.sampled_from(("None", "ClientIP")),
)
ENDPOINTS = st.lists(
    st.builds(
        k8s.Endpoint,
        # 192.168.16.1: a node's address, i.e. a host-network endpoint (its VRF depends on
        # whether the address is this node's)
        st.sampled_from(("10.1.1.2", "10.1.2.3", "10.1.1.4", "192.168.16.1")).map(lambda a: (a,)),
        ready=st.sampled_from((True, True, False)),
        node_name=st.sampled_from(NODES),
        serving=st.booleans(),
        terminating=st.booleans(),
    ),
    max_size=3,
).map(tuple)
SLICE_PORTS = st.lists(
    st.builds(
        k8s.EndpointPort,
        st.sampled_from(("http", "http", "dns")),
        st.sampled_from((8080, 9090)),
        st.sampled_from(("TCP", "TCP", "UDP", "SCTP")),
    ),
    min_size=1,
    max_size=2,
).map(tuple)
slices = st.builds(
    k8s.EndpointSlice,
    st.sampled_from(NAMESPACES),
    st.sampled_from(("e1", "e2", "e3")),
    st.sampled_from((*SERVICE_NAMES, *SERVICE_NAMES, "")),
    st.just("IPv4"),
    ENDPOINTS,
    SLICE_PORTS,
)
service_events = st.one_of(
    services.map(K8sUpserted),
    st.builds(
        lambda ns, name: K8sDeleted(k8s.ObjectRef("Service", ns, name)),
        st.sampled_from(NAMESPACES),
        st.sampled_from(SERVICE_NAMES),
    ),
    st.builds(
        lambda ns, name, svc, eps, ports: K8sUpserted(
            k8s.EndpointSlice(ns, name, svc, "IPv4", eps, ports)
        ),
        st.sampled_from(NAMESPACES),
        st.sampled_from(("e1", "e2", "e3")),
        st.sampled_from((*SERVICE_NAMES, "")),
        ENDPOINTS,
        SLICE_PORTS,
    ),
    st.builds(
        lambda ns, name: K8sDeleted(k8s.ObjectRef("EndpointSlice", ns, name)),
        st.sampled_from(NAMESPACES),
        st.sampled_from(("e1", "e2", "e3")),
    ),
)
policy_events = st.one_of(
    st.builds(
        lambda ns, name, sel, ingress, egress: K8sUpserted(
            k8s.NetworkPolicy(ns, name, sel, ("Ingress", "Egress"), tuple(ingress), tuple(egress))
        ),
        st.sampled_from(NAMESPACES),
        st.sampled_from(("n1", "n2")),
        SELECTORS,
        RULES,
        RULES,
    ),
    st.builds(
        lambda ns, name: K8sDeleted(k8s.ObjectRef("NetworkPolicy", ns, name)),
        st.sampled_from(NAMESPACES),
        st.sampled_from(("n1", "n2")),
    ),
)
cni_events = st.one_of(
    st.builds(
        lambda ns, name, gen, ifname: CNIAdd(
            f"{name}{gen}", f"/run/netns/{ns}-{name}", ifname, ns, name
        ),
        st.sampled_from(NAMESPACES),
        st.sampled_from(POD_NAMES),
        st.integers(0, 2),
        st.sampled_from(("eth0", "eth0", "net1", "x" * 16)),
    ),
    st.builds(
        lambda ns, name, gen: CNIDel(f"{name}{gen}", "", "eth0", ns, name),
        st.sampled_from(NAMESPACES),
        st.sampled_from(POD_NAMES),
        st.integers(0, 2),
    ),
)
other_events = st.one_of(
    st.just(VPPRestarted()),
    st.just(ResyncRequested("test")),
    st.builds(
        lambda vni, uplink, nat, route_cidr: ConfigChanged(
            AgentConfig(
                "node-1",
                vxlan_vni=vni,
                main_interface=uplink,
                nat_external_traffic=nat,
                route_service_cidr_to_vpp=route_cidr,
            )
        ),
        st.sampled_from((10, 11)),
        st.sampled_from((None, UPLINK)),
        st.booleans(),
        st.booleans(),
    ),
)
selector_events = st.one_of(service_events, policy_events)
events = st.one_of(
    node_events, k8s_events, k8s_events, selector_events, cni_events, cni_events, other_events
)


def _check_indices(state: ClusterState) -> None:
    """The incrementally kept indices equal the ones a scan of every object gives."""
    idx = state.index
    pods = {k: p for k, p in state.of_kind("Pod").items() if isinstance(p, k8s.Pod)}
    namespaces = state.of_kind("Namespace")
    by_ns: dict[str, set[tuple[str, str]]] = {}
    by_label: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key, pod in pods.items():
        by_ns.setdefault(key[0], set()).add(key)
        for pair in pod.labels:
            by_label.setdefault(pair, set()).add(key)
    assert {n: set(m) for n, m in idx.pods_by_namespace.items()} == by_ns
    assert {p: set(m) for p, m in idx.pods_by_label.items()} == by_label
    slices: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key, obj in state.of_kind("EndpointSlice").items():
        assert isinstance(obj, k8s.EndpointSlice)
        if obj.service_name:
            slices.setdefault((key[0], obj.service_name), set()).add(key)
    assert {s: set(m) for s, m in idx.slices_by_service.items()} == slices
    expected: dict[tuple[str, ...], set[tuple[str, str]]] = {}
    for kind in ("Service", "NetworkPolicy"):
        for obj in state.of_kind(kind).values():  # type: ignore[arg-type]
            for sid, sel in selections_of(obj).items():
                chosen = set()
                for key, pod in pods.items():
                    ns = namespaces.get(("", pod.namespace))
                    ns_labels = (
                        *(ns.labels if isinstance(ns, k8s.Namespace) else ()),
                        (k8s.NAMESPACE_NAME_LABEL, pod.namespace),
                    )
                    in_ns = (
                        pod.namespace == sel.namespace
                        if sel.namespace is not None
                        else sel.namespace_selector is None
                        or sel.namespace_selector.matches(ns_labels)
                    )
                    if in_ns and sel.pod_selector.matches(pod.labels):
                        chosen.add(key)
                expected[sid] = chosen
    assert set(idx.selections) == set(expected)
    assert {sid: set(idx.pods_selected(sid)) for sid in expected} == expected
    of_pod: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for sid, chosen in expected.items():
        for key in chosen:
            of_pod.setdefault(key, set()).add(sid)
    assert {k: set(v) for k, v in idx.selections_of_pod.items()} == of_pod


async def _check(sequence: list[Event]) -> None:
    controller = Controller(initial_state(AgentConfig("node-1")), strict=True)
    for seq, event in enumerate(sequence, 1):
        await controller.handle(seq, event)
        reference = render(controller.state, strict=True)
        assert controller.desired == reference, (
            f"incremental != reference after event {seq}: {event!r}"
        )
        # the backend count behind stale-session clean-up follows the same values
        counted = Counter(b for value in reference.values() for b in backends_of(value))
        assert controller.parts._backend_refs == dict(counted)
        _check_indices(controller.state)


# Most sequences start with this node's ID, so that later events meet a rendering node.
sequences = st.tuples(
    st.lists(st.builds(NodeIDAllocated, st.just("node-1"), st.integers(1, 3)), max_size=1),
    st.lists(events, min_size=1, max_size=60),
).map(lambda parts: parts[0] + parts[1])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequences)
def test_incremental_desired_set_equals_full_render(sequence: list[Event]) -> None:
    asyncio.run(_check(sequence))


index_events = st.one_of(k8s_events, selector_events)


# Each renderer also gets a dense sequence of its own inputs, on a node that has its ID.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(services.map(K8sUpserted), slices.map(K8sUpserted), service_events, node_events),
        min_size=1,
        max_size=30,
    )
)
@example(
    # a ClusterIP service's endpoint at this node's address: a host-network pod, in the main
    # VRF; it only becomes one when this node's Node object says so
    [
        K8sUpserted(
            _service("default", "s1", ports=(k8s.ServicePort("http", "TCP", 80, 8080, 0),))
        ),
        K8sUpserted(
            k8s.EndpointSlice(
                "default",
                "s1-1",
                "s1",
                endpoints=(k8s.Endpoint(("192.168.16.1",), node_name="node-1"),),
                ports=(k8s.EndpointPort("http", 8080, "TCP"),),
            )
        ),
        K8sUpserted(_node_obj("node-1", ("192.168.16.1",))),
    ]
)
def test_services_render_incrementally_as_from_scratch(sequence: list[Event]) -> None:
    asyncio.run(_check([NodeIDAllocated("node-1", 1), *sequence]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(index_events, min_size=1, max_size=30))
def test_indices_equal_a_scan_of_every_object(sequence: list[Event]) -> None:
    state = initial_state(AgentConfig("node-1"))
    for event in sequence:
        state = fold(state, event)
        _check_indices(state)


policy_pods = st.builds(
    lambda ns, name, labels, node, ip, ports: K8sUpserted(
        k8s.Pod(ns, name, labels=labels, node_name=node, ip=ip, ports=ports)
    ),
    st.sampled_from(NAMESPACES),
    st.sampled_from(POD_NAMES),
    LABELS,
    st.sampled_from(NODES),
    st.sampled_from(("10.1.2.7", "10.1.3.9", "10.1.1.2")),
    st.lists(
        st.builds(
            k8s.ContainerPort,
            st.sampled_from(("http", "")),
            st.sampled_from((80, 81)),
            st.just("TCP"),
        ),
        max_size=1,
    ).map(tuple),
)
POLICY_PORTS = st.lists(
    st.builds(
        k8s.PolicyPort,
        st.sampled_from(("TCP", "UDP", "SCTP")),
        st.sampled_from((None, 80, "http")),
    ),
    max_size=1,
).map(tuple)
policy_rules_st = st.lists(
    st.builds(k8s.PolicyRule, st.lists(PEERS, max_size=2).map(tuple), POLICY_PORTS), max_size=2
)
dense_policies = st.builds(
    lambda ns, name, sel, types, ingress, egress: K8sUpserted(
        k8s.NetworkPolicy(ns, name, sel, types, tuple(ingress), tuple(egress))
    ),
    st.sampled_from(NAMESPACES),
    st.sampled_from(("n1", "n2")),
    SELECTORS,
    st.sampled_from((("Ingress",), ("Egress",), ("Egress", "Ingress"))),
    policy_rules_st,
    policy_rules_st,
)


namespace_events = st.builds(
    lambda ns, labels: K8sUpserted(k8s.Namespace(ns, labels)), st.sampled_from(NAMESPACES), LABELS
)


async def _check_policies(sequence: list[Event]) -> None:
    await _check(sequence)
    controller = Controller(initial_state(AgentConfig("node-1")))
    for seq, event in enumerate(sequence, 1):
        await controller.handle(seq, event)
    # the parts agree with the policy renderer's own whole-node reference
    reference = policies.render_policies_of(controller.state).values
    mine = {k: v for k, v in controller.desired.items() if k.startswith(("vpp/acl/", "vpp/acl-"))}
    assert mine == reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(dense_policies, policy_pods, k8s_events, cni_events, policy_events, node_events),
        min_size=1,
        max_size=30,
    )
)
def test_policies_render_incrementally_as_from_scratch(sequence: list[Event]) -> None:
    asyncio.run(_check_policies([NodeIDAllocated("node-1", 1), *sequence]))
