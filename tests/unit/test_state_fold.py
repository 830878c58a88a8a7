"""The fold of events into cluster state."""

from __future__ import annotations

import pytest

from contivpp.config import AgentConfig
from contivpp.errors import IPAMError
from contivpp.events import k8s
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
    VPPRestarted,
)


def add(name: str, cid: str = "", ns: str = "default") -> CNIAdd:
    return CNIAdd(cid or f"cid-{name}", f"/var/run/netns/{name}", "eth0", ns, name)


def delete(name: str, cid: str = "", ns: str = "default") -> CNIDel:
    return CNIDel(cid or f"cid-{name}", f"/var/run/netns/{name}", "eth0", ns, name)


def run(*events: Event, state: ClusterState | None = None) -> ClusterState:
    state = state or initial_state(AgentConfig(node_name="node-1"))
    for event in events:
        state = fold(state, event)
    return state


def ips(state: ClusterState) -> dict[str, str]:
    return {name: pod.ip for (_, name), pod in state.local_pods.items()}


def test_pods_get_addresses_from_this_nodes_subnet() -> None:
    state = run(NodeIDAllocated("node-1", 3), add("a"), add("b"))
    assert state.node_id == 3
    assert ips(state) == {"a": "10.1.3.2", "b": "10.1.3.3"}


def test_pods_before_the_node_id_are_allocated_in_order_when_it_arrives() -> None:
    state = run(add("b"), add("a"))
    assert ips(state) == {"a": "", "b": ""}
    state = run(NodeIDAllocated("node-1", 1), state=state)
    assert ips(state) == {"a": "10.1.1.2", "b": "10.1.1.3"}


def test_same_pod_twice_same_address_and_new_sandbox_replaces_wiring() -> None:
    state = run(NodeIDAllocated("node-1", 1), add("a"), add("a"))
    assert ips(state) == {"a": "10.1.1.2"}
    state = run(add("a", cid="second"), state=state)
    pod = state.local_pods[("default", "a")]
    assert (pod.container_id, pod.ip) == ("second", "10.1.1.2")


def test_stale_delete_of_an_old_sandbox_is_ignored() -> None:
    state = run(NodeIDAllocated("node-1", 1), add("a", cid="old"), add("a", cid="new"))
    state = run(delete("a", cid="old"), state=state)
    assert ("default", "a") in state.local_pods
    state = run(delete("a", cid="new"), delete("a", cid="new"), state=state)  # idempotent
    assert not state.local_pods


def test_released_address_is_not_reused_immediately() -> None:
    state = run(NodeIDAllocated("node-1", 1), add("a"), delete("a"), add("b"))
    assert ips(state) == {"b": "10.1.1.3"}


def test_conflicting_node_id_is_refused_and_state_kept() -> None:
    state = run(NodeIDAllocated("node-2", 1))
    with pytest.raises(IPAMError, match="already held by node-2"):
        fold(state, NodeIDAllocated("node-1", 1))
    assert state.node_id is None


def test_node_id_change_with_wired_pods_is_refused() -> None:
    state = run(NodeIDAllocated("node-1", 1), add("a"))
    with pytest.raises(IPAMError, match="changed from 1 to 2"):
        fold(state, NodeIDAllocated("node-1", 2))


def test_other_nodes_come_and_go() -> None:
    state = run(NodeIDAllocated("node-2", 2, ("192.168.16.2/24",)), NodeIDReleased("node-2", 2))
    assert "node-2" not in state.nodes


def test_k8s_objects_upsert_and_delete() -> None:
    ns = k8s.Namespace("default", (("a", "b"),))
    state = run(K8sUpserted(ns))
    assert state.of_kind("Namespace")[("", "default")] == ns
    state = run(K8sDeleted(k8s.ObjectRef("Namespace", "", "default")), state=state)
    assert not state.of_kind("Namespace")
    again = run(K8sDeleted(k8s.ObjectRef("Namespace", "", "default")), state=state)
    assert again is state


def test_fold_never_mutates_the_previous_snapshot() -> None:
    before = run(NodeIDAllocated("node-1", 1), add("a"))
    after = run(add("b"), VPPRestarted(), state=before)
    assert set(ips(before)) == {"a"} and set(ips(after)) == {"a", "b"}
    assert (before.vpp_epoch, after.vpp_epoch) == (0, 1)


def test_restored_pod_keeps_its_address_and_conflicts_are_refused() -> None:
    state = run(NodeIDAllocated("node-1", 1))
    state = run(CNIAdd("c1", "/n/a", "eth0", "default", "a", ip="10.1.1.77"), state=state)
    assert ips(state) == {"a": "10.1.1.77"}
    state = run(add("b"), state=state)
    assert ips(state)["b"] == "10.1.1.78", "allocation continues after restored addresses"
    with pytest.raises(IPAMError, match="held by default/a"):
        fold(state, CNIAdd("c2", "/n/c", "eth0", "default", "c", ip="10.1.1.77"))
