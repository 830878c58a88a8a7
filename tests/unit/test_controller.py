"""The controller: fold + render + delta to the sink, CNI answers, rejected events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

import pytest

from contivpp.config import AgentConfig
from contivpp.controller import Controller, diff
from contivpp.errors import IPAMError, ReconcileError
from contivpp.events import k8s
from contivpp.events.state import LocalPod, initial_state
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    CNIOutcome,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    ResyncRequested,
    VPPRestarted,
)
from contivpp.model import keys
from contivpp.reconcile.api import Key
from contivpp.renderers import pods, render
from contivpp.renderers.services import Backend


class RecordingSink:
    """Records what it is asked; ``broken`` keys are reported as failed and not configured."""

    def __init__(self, broken: frozenset[Key] = frozenset()) -> None:
        self.deltas: list[dict[Key, object | None]] = []
        self.resyncs: list[tuple[bool, dict[Key, object]]] = []
        self.broken = broken
        self.dropped: list[Backend] = []

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> Mapping[Key, str]:
        self.deltas.append(dict(delta))
        return {k: "failed: boom" for k, v in delta.items() if k in self.broken and v is not None}

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> Mapping[Key, str]:
        self.resyncs.append((downstream, dict(desired)))
        return {}

    def problems(self, keys: Iterable[Key]) -> dict[Key, str]:
        return {k: "failed: boom" for k in keys if k in self.broken}

    async def drop_sessions(self, backends: Sequence[Backend]) -> None:
        self.dropped.extend(backends)


def test_diff() -> None:
    a, b, c = Key("a"), Key("b"), Key("c")
    assert diff({a: 1, b: 2}, {b: 3, c: 4}) == {a: None, b: 3, c: 4}
    assert diff({a: 1}, {a: 1}) == {}


async def test_deltas_follow_the_events_and_cni_gets_its_answer() -> None:
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink)
    await controller.handle(1, NodeIDAllocated("node-1", 2))
    assert keys.interface("podGwLoop") in sink.deltas[0]

    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("abc", "/var/run/netns/p", "eth0", "d", "p", reply=reply))
    outcome = reply.result()
    assert (outcome.ip, outcome.gateway, outcome.error) == ("10.1.2.2", "10.1.2.1", "")
    assert outcome.mac.startswith("02:fe:")
    added = sink.deltas[1]
    assert keys.interface("tap-abc") in added and all(v is not None for v in added.values())
    assert controller.desired == render(controller.state)

    await controller.handle(3, CNIDel("abc", "/var/run/netns/p", "eth0", "d", "p"))
    assert set(sink.deltas[2]) == set(added) and all(v is None for v in sink.deltas[2].values())


async def test_rejected_event_keeps_state_and_answers_with_the_reason() -> None:
    controller = Controller(initial_state(AgentConfig("node-1")))
    await controller.handle(1, NodeIDAllocated("node-2", 1))
    before = controller.state
    await controller.handle(2, NodeIDAllocated("node-1", 1))
    assert controller.state is before
    assert "already held by node-2" in controller.rejections[0].error

    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(3, CNIAdd("abc", "/var/run/netns/p", "eth0", "d", "p", reply=reply))
    assert "no ID yet" in reply.result().error


async def test_vpp_restart_and_resync_requests_resync_the_sink() -> None:
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    await controller.handle(2, VPPRestarted())
    await controller.handle(3, ResyncRequested("operator"))
    assert [d for d, _ in sink.resyncs] == [True, False]
    assert sink.resyncs[1][1] == controller.desired and len(sink.deltas) == 1


async def test_incremental_pod_rendering_matches_a_full_render() -> None:
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    seq = 2
    for step in range(30):
        name = f"p{step % 7}"
        current = controller.state.local_pods.get(("d", name))
        if step % 3 == 2 and current is not None:
            event: CNIAdd | CNIDel = CNIDel(current.container_id, "/n", "eth0", "d", name)
        else:
            # a re-add with a new container ID replaces the old wiring
            event = CNIAdd(f"c{step % 7}-{step // 7}", f"/n/{name}", "eth0", "d", name)
        await controller.handle(seq, event)
        seq += 1
        assert controller.desired == render(controller.state)
    applied: dict[Key, object] = {}
    for delta in sink.deltas:
        for key, value in delta.items():
            if value is None:
                applied.pop(key)
            else:
                applied[key] = value
    assert applied == render(controller.state), "the deltas add up to the desired set"


async def test_an_out_of_range_node_id_is_rejected_and_the_node_keeps_working() -> None:
    """Issue 14 defect 1: one bad allocatedIDs record must not break every later event."""
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    before = controller.state
    await controller.handle(2, NodeIDAllocated("node-evil", 300, ("192.168.16.44/24",)))
    assert controller.state is before
    assert controller.rejections[0].seq == 2
    assert controller.rejections[0].error == (
        "node node-evil: node ID 300 does not fit podSubnetCIDR 10.1.0.0/16 split into /24"
    )
    await controller.handle(3, NodeIDAllocated("node-2", 2))
    assert keys.interface("vxlan2") in sink.deltas[-1]
    assert controller.desired == render(controller.state)


async def test_a_render_failure_rejects_the_event_and_rolls_the_state_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    real = pods.render_pod

    def render_pod(config: AgentConfig, node_id: int, pod: LocalPod) -> dict[Key, object]:
        if pod.name == "bad":
            raise IPAMError("no room for this pod")
        return real(config, node_id, pod)

    monkeypatch.setattr(pods, "render_pod", render_pod)
    before, desired, deltas = controller.state, controller.desired, len(sink.deltas)
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("c1", "/n/bad", "eth0", "d", "bad", reply=reply))
    assert reply.result().error == "no room for this pod"
    assert controller.state is before and controller.desired == desired
    assert len(sink.deltas) == deltas
    await controller.handle(3, CNIAdd("c2", "/n/good", "eth0", "d", "good"))
    assert controller.state.local_pods[("d", "good")].ip == "10.1.1.2"  # 10.1.1.2 not leaked


async def test_an_add_with_an_invalid_ifname_fails_and_keeps_nothing() -> None:
    """Issue 14 defect 2: CNI_IFNAME longer than 15 bytes used to be answered with success."""
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("c1", "/n/p", "eth0123456789abc", "d", "p", reply=reply))
    assert reply.result() == CNIOutcome(
        error="CNI_IFNAME 'eth0123456789abc' is not a valid Linux interface name (1-15 bytes, "
        "not '.' or '..', no '/', ':' or whitespace)"
    )
    assert ("d", "p") not in controller.state.local_pods and len(sink.deltas) == 1


async def test_an_add_whose_own_values_fail_is_undone_and_frees_its_address() -> None:
    """Issue 14 defect 5 and issue 9: a failed ADD leaves no trace; the pod is judged by its
    own keys only."""
    tap = keys.interface("tap-c1")
    sink = RecordingSink(broken=frozenset({tap}))
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("c1", "/n/p", "eth0", "d", "p", reply=reply))
    assert reply.result().error == (
        "the pod's configuration failed (vpp/interface/tap-c1: failed: boom)"
    )
    assert ("d", "p") not in controller.state.local_pods
    assert controller.state.allocator is not None
    assert controller.state.allocator.address_of(("d", "p")) is None
    added, withdrawn = sink.deltas[-2], sink.deltas[-1]
    assert tap in added and set(withdrawn) == set(added)
    assert all(v is None for v in withdrawn.values())
    assert controller.desired == render(controller.state)
    assert [r.event for r in controller.rejections] == ["CNIAdd"]


async def test_an_add_is_not_failed_by_values_that_are_not_the_pods() -> None:
    """Issue 9 item 7: another value failing in the same transaction does not fail the ADD."""
    sink = RecordingSink(broken=frozenset({keys.interface("podGwLoop")}))
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("c1", "/n/p", "eth0", "d", "p", reply=reply))
    assert reply.result().error == "" and reply.result().ip == "10.1.1.2"


async def test_two_pods_cannot_share_a_container_id() -> None:
    """Found by the oracle: a container ID names the pod's VPP TAP, so it is one pod's."""
    controller = Controller(initial_state(AgentConfig("node-1")), strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    await controller.handle(2, CNIAdd("c1", "/n/a", "eth0", "d", "a"))
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(3, CNIAdd("c1", "/n/b", "eth0", "x", "b", reply=reply))
    assert reply.result().error == "container ID c1 of pod x/b is already wired for pod d/a"
    # the pod may get a new sandbox, and the old container ID is then free
    await controller.handle(4, CNIAdd("c2", "/n/a2", "eth0", "d", "a"))
    await controller.handle(5, CNIAdd("c1", "/n/b", "eth0", "x", "b"))
    assert ("x", "b") in controller.state.local_pods


def _web_slice(*addresses: str) -> K8sUpserted:
    endpoints = tuple(k8s.Endpoint((a,), node_name="node-2") for a in addresses)
    return K8sUpserted(
        k8s.EndpointSlice(
            "d", "web-1", "web", endpoints=endpoints, ports=(k8s.EndpointPort("http", 8080, "TCP"),)
        )
    )


async def test_a_removed_endpoint_has_its_nat_sessions_dropped() -> None:
    """Issue 10 item 4: no client keeps talking to a backend that went away."""
    sink = RecordingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    service = k8s.Service(
        "d", "web", cluster_ip="10.96.0.20", ports=(k8s.ServicePort("http", "TCP", 80, 8080),)
    )
    await controller.handle(2, K8sUpserted(service))
    await controller.handle(3, _web_slice("10.1.2.5", "10.1.2.6", "10.1.3.7"))
    await controller.handle(4, _web_slice("10.1.2.5", "10.1.3.7"))  # one goes
    assert sink.dropped == [Backend("10.1.2.6", 8080, "tcp", 1)]
    await controller.handle(5, _web_slice("10.1.2.5", "10.1.3.7", "10.1.2.9"))  # one comes
    assert len(sink.dropped) == 1
    await controller.handle(6, K8sDeleted(k8s.ObjectRef("Service", "d", "web")))
    assert sink.dropped[1:] == [
        Backend("10.1.2.5", 8080, "tcp", 1),
        Backend("10.1.2.9", 8080, "tcp", 1),
        Backend("10.1.3.7", 8080, "tcp", 1),
    ]


async def test_the_event_history_says_what_became_of_each_event() -> None:
    """Issue 13: /controller/event-history reads this bounded history (seq, type, outcome)."""
    sink = RecordingSink(broken=frozenset({keys.interface("podGwLoop")}))
    controller = Controller(
        initial_state(AgentConfig("node-1")), sink=sink, strict=True, history_size=3
    )
    await controller.handle(1, NodeIDAllocated("node-1", 1))  # the node's values: one fails
    await controller.handle(2, CNIAdd("c1", "/n/p", "eth0", "d", "p"))
    await controller.handle(3, NodeIDAllocated("node-2", 1))  # ID 1 is node-1's: rejected
    await controller.handle(4, CNIDel("c1", "/n/p", "eth0", "d", "p"))
    assert [(h.seq, h.type, h.outcome, h.error) for h in controller.history] == [
        (2, "CNIAdd", "ok", ""),
        (3, "NodeIDAllocated", "rejected",
         "node ID 1 claimed by node-2 is already held by node-1: refusing an overlapping pod "
         "subnet"),
        (4, "CNIDel", "ok", ""),
    ]  # fmt: skip
    assert all(h.duration >= 0 and h.started > 0 for h in controller.history)


async def test_an_event_whose_values_failed_is_apply_failed_in_the_history() -> None:
    sink = RecordingSink(broken=frozenset({keys.interface("podGwLoop")}))
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    [entry] = controller.history
    assert (entry.outcome, entry.error) == ("apply-failed", "vpp/interface/podGwLoop: failed: boom")


async def test_a_sink_that_refuses_a_change_still_gets_the_cni_caller_an_answer() -> None:
    class RefusingSink(RecordingSink):
        async def apply(
            self, delta: Mapping[Key, object | None], *, trigger: str
        ) -> Mapping[Key, str]:
            if any(k.startswith("vpp/interface/tap-") for k in delta):
                raise ReconcileError("vpp/interface/tap-c1 is derived from x; it cannot be set")
            return await super().apply(delta, trigger=trigger)

        def problems(self, keys: Iterable[Key]) -> dict[Key, str]:
            return {k: "nonexistent" for k in keys}

    sink = RefusingSink()
    controller = Controller(initial_state(AgentConfig("node-1")), sink=sink, strict=True)
    await controller.handle(1, NodeIDAllocated("node-1", 1))
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await controller.handle(2, CNIAdd("c1", "/n/p", "eth0", "d", "p", reply=reply))
    assert reply.result().error.startswith("the pod's configuration failed (")
    assert ("d", "p") not in controller.state.local_pods
    assert controller.history[-1].outcome == "rejected"
