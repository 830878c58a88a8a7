"""The event bus: strict order, sequence numbers, backpressure, surviving handler errors."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from structlog.testing import capture_logs

from contivpp.events.bus import EventBus
from contivpp.events.types import Event, ResyncRequested


async def test_events_are_handled_in_order_with_increasing_seq() -> None:
    bus = EventBus(maxsize=4)
    seen: list[tuple[int, str]] = []

    async def handler(seq: int, event: Event) -> None:
        assert isinstance(event, ResyncRequested)
        await asyncio.sleep(0)  # give producers a chance to interleave
        seen.append((seq, event.reason))

    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(bus.run(handler))

        async def produce(prefix: str) -> None:
            for i in range(20):
                await bus.publish(ResyncRequested(f"{prefix}{i}"))

        producers = [tg.create_task(produce("a")), tg.create_task(produce("b"))]
        await asyncio.gather(*producers)
        await bus.join()
        consumer.cancel()
    assert [s for s, _ in seen] == list(range(1, 41))
    assert [r for _, r in seen if r.startswith("a")] == [f"a{i}" for i in range(20)]


async def test_producers_wait_when_the_queue_is_full() -> None:
    bus = EventBus(maxsize=2)
    await bus.publish(ResyncRequested())
    await bus.publish(ResyncRequested())
    blocked = asyncio.create_task(bus.publish(ResyncRequested()))
    await asyncio.sleep(0.01)
    assert not blocked.done() and bus.pending == 2
    handled: list[int] = []

    async def handler(seq: int, event: Event) -> None:
        handled.append(seq)

    consumer = asyncio.create_task(bus.run(handler))
    await blocked
    await bus.join()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert handled == [1, 2, 3]


async def test_a_failing_handler_is_logged_and_the_loop_goes_on() -> None:
    bus = EventBus()
    handled: list[int] = []

    async def handler(seq: int, event: Event) -> None:
        if seq == 2:
            raise RuntimeError("boom")
        handled.append(seq)

    consumer = asyncio.create_task(bus.run(handler))
    with capture_logs() as logs:
        for _ in range(3):
            await bus.publish(ResyncRequested("x"))
        await bus.join()
    consumer.cancel()
    assert handled == [1, 3]
    assert bus.failed == 1 and bus.processed == 3
    failure = next(e for e in logs if e["event"] == "event_handler_failed")
    assert failure["event_seq"] == 2 and failure["error"] == "boom"
    assert "ResyncRequested" in failure["event_repr"]


async def test_forced_seq_from_a_log_is_kept() -> None:
    bus = EventBus()
    seqs: list[int] = []

    async def handler(seq: int, event: Event) -> None:
        seqs.append(seq)

    consumer = asyncio.create_task(bus.run(handler))
    await bus.publish(ResyncRequested(), seq=10)
    await bus.publish(ResyncRequested(), seq=15)
    await bus.publish(ResyncRequested())
    await bus.join()
    consumer.cancel()
    assert seqs == [10, 15, 16]


async def test_the_event_seq_is_bound_for_log_lines_of_the_handler() -> None:
    bus = EventBus()
    bound: list[object] = []

    async def handler(seq: int, event: Event) -> None:
        bound.append(structlog.contextvars.get_contextvars().get("event_seq"))

    consumer = asyncio.create_task(bus.run(handler))
    for _ in range(3):
        await bus.publish(ResyncRequested())
    await bus.join()
    consumer.cancel()
    assert bound == [1, 2, 3]
