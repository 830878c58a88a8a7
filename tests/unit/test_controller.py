"""The controller: fold + render + delta to the sink, CNI answers, rejected events."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from contivpp.config import AgentConfig
from contivpp.controller import Controller, diff
from contivpp.events.state import initial_state
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    CNIOutcome,
    NodeIDAllocated,
    ResyncRequested,
    VPPRestarted,
)
from contivpp.model import keys
from contivpp.reconcile.api import Key
from contivpp.renderers import render


class RecordingSink:
    def __init__(self) -> None:
        self.deltas: list[dict[Key, object | None]] = []
        self.resyncs: list[tuple[bool, dict[Key, object]]] = []

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> None:
        self.deltas.append(dict(delta))

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> None:
        self.resyncs.append((downstream, dict(desired)))


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
