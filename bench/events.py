"""Events/s through the event bus + state fold (+ incremental render), next to a bare queue.

100,000 pod upserts (distinct pods) are published by one producer and folded by the bus's
consumer into the immutable cluster state. The same run times a bare asyncio.Queue put/get
loop moving the same number of items, so the ratio says what the bus + fold cost on top of
the queue itself. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events import k8s
from contivpp.events.bus import EventBus
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import Event, K8sUpserted, NodeIDAllocated


def make_events(count: int) -> list[Event]:
    return [
        K8sUpserted(
            k8s.Pod(
                namespace=f"ns-{i % 50}",
                name=f"pod-{i}",
                labels=(("app", f"app-{i % 200}"),),
                node_name=f"node-{i % 20}",
                ip=f"10.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}",
            )
        )
        for i in range(count)
    ]


async def bus_and_fold(events: list[Event]) -> tuple[float, ClusterState]:
    bus = EventBus(maxsize=1024)
    state = initial_state(AgentConfig("node-1"))

    async def handle(seq: int, event: Event) -> None:
        nonlocal state
        state = fold(state, event)

    start = time.perf_counter()
    consumer = asyncio.create_task(bus.run(handle))
    for event in events:
        await bus.publish(event)
    await bus.join()
    elapsed = time.perf_counter() - start
    consumer.cancel()
    return elapsed, state


async def bus_fold_render(events: list[Event]) -> tuple[float, Controller]:
    """The agent's own path without the reconciler: bus -> controller (fold + parts)."""
    bus = EventBus(maxsize=1024)
    controller = Controller(initial_state(AgentConfig("node-1")))
    await controller.handle(0, NodeIDAllocated("node-1", 1))
    start = time.perf_counter()
    consumer = asyncio.create_task(bus.run(controller.handle))
    for event in events:
        await bus.publish(event)
    await bus.join()
    elapsed = time.perf_counter() - start
    consumer.cancel()
    return elapsed, controller


async def bare_queue(events: list[Event]) -> float:
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1024)

    async def consume() -> None:
        while True:
            await queue.get()
            queue.task_done()

    start = time.perf_counter()
    consumer = asyncio.create_task(consume())
    for event in events:
        await queue.put(event)
    await queue.join()
    elapsed = time.perf_counter() - start
    consumer.cancel()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 events instead of 100,000")
    args = parser.parse_args()
    count = 10_000 if args.quick else 100_000
    events = make_events(count)
    bare = await bare_queue(events)
    full, state = await bus_and_fold(events)
    assert len(state.of_kind("Pod")) == count
    rendered, controller = await bus_fold_render(events)
    assert len(controller.state.of_kind("Pod")) == count
    figures = {
        "events": count,
        "bus_fold_s": round(full, 4),
        "bus_fold_events_per_s": round(count / full),
        "bare_queue_s": round(bare, 4),
        "bare_queue_events_per_s": round(count / bare),
        "ratio_bus_fold_over_bare": round(full / bare, 2),
        "bus_fold_render_s": round(rendered, 4),
        "bus_fold_render_events_per_s": round(count / rendered),
        "ratio_bus_fold_render_over_bare": round(rendered / bare, 2),
    }
    print(f"bus + fold : {figures['bus_fold_events_per_s']:>10,} events/s ({full:.3f} s)")
    print(
        f"bus + fold + render: {figures['bus_fold_render_events_per_s']:>10,} events/s "
        f"({rendered:.3f} s)"
    )
    print(f"bare queue : {figures['bare_queue_events_per_s']:>10,} events/s ({bare:.3f} s)")
    print(f"ratio      : {figures['ratio_bus_fold_over_bare']}x the bare queue's time")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
