"""The oracle: incremental rendering always equals a from-scratch ``render(state)``.

Random event sequences (this node's and other nodes' IDs, Kubernetes nodes, pods, namespaces
and labels, CNI adds and deletes, restarts, resyncs, out-of-range IDs) go through the
controller, which keeps the desired set in parts and re-renders only what each event dirties.
After every event the kept set must equal the reference render of the state, and no two owners
may render one key (``strict``). Every renderer added to ``renderers.parts`` is covered by
adding its inputs to the event strategy below.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events import k8s
from contivpp.events.state import initial_state
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
from contivpp.renderers import render

NODES = ("node-1", "node-2", "node-3", "node-4")
NAMESPACES = ("default", "x", "y")
POD_NAMES = ("a", "b", "c")
LABELS = st.lists(
    st.tuples(st.sampled_from(("app", "role", "tier")), st.sampled_from(("web", "db", "x"))),
    max_size=2,
    unique_by=lambda kv: kv[0],
).map(lambda kvs: tuple(sorted(kvs)))
# 300 does not fit the default address plan: the fold must reject it without harm.
NODE_IDS = st.sampled_from((1, 2, 3, 4, 5, 300))


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
        lambda vni: ConfigChanged(AgentConfig("node-1", vxlan_vni=vni)), st.sampled_from((10, 11))
    ),
)
events = st.one_of(node_events, k8s_events, cni_events, cni_events, other_events)


async def _check(sequence: list[Event]) -> None:
    controller = Controller(initial_state(AgentConfig("node-1")), strict=True)
    for seq, event in enumerate(sequence, 1):
        await controller.handle(seq, event)
        assert controller.desired == render(controller.state, strict=True), (
            f"incremental != reference after event {seq}: {event!r}"
        )


# Most sequences start with this node's ID, so that later events meet a rendering node.
sequences = st.tuples(
    st.lists(st.builds(NodeIDAllocated, st.just("node-1"), st.integers(1, 3)), max_size=1),
    st.lists(events, min_size=1, max_size=40),
).map(lambda parts: parts[0] + parts[1])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequences)
def test_incremental_desired_set_equals_full_render(sequence: list[Event]) -> None:
    asyncio.run(_check(sequence))
