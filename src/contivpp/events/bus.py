"""The event loop: many producers, one consumer that applies events strictly in order.

Like Contiv's controller, the agent handles one event at a time, so handlers never race and
the order of the event log is the order of effects. The queue is bounded: a producer that
outpaces the consumer waits in ``publish`` (backpressure) instead of growing memory. Sequence
numbers are assigned by the consumer, at the moment an event is taken, so they always equal
the order of application. A handler error is logged with the event and the loop goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from contivpp.events.types import Event

Handler = Callable[[int, Event], Awaitable[None]]
log = structlog.get_logger("contivpp.events.bus")


class EventBus:
    def __init__(
        self,
        *,
        maxsize: int = 1024,
        first_seq: int = 1,
        observe_lag: Callable[[float], None] | None = None,
    ) -> None:
        self._queue: asyncio.Queue[tuple[Event, int | None, float]] = asyncio.Queue(maxsize)
        self._observe_lag = observe_lag
        self._next_seq = first_seq
        self.processed = 0
        self.failed = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def publish(self, event: Event, *, seq: int | None = None) -> None:
        """Queue an event, waiting while the queue is full.

        ``seq`` is only for replay, where the log already numbers the events; it must grow.
        """
        await self._queue.put((event, seq, time.monotonic()))

    async def join(self) -> None:
        """Wait until every queued event has been handled."""
        await self._queue.join()

    async def run(self, handler: Handler) -> None:
        """Consume forever (until cancelled), one event at a time."""
        while True:
            event, forced, published = await self._queue.get()
            if self._observe_lag is not None:
                self._observe_lag(time.monotonic() - published)
            seq = self._next_seq if forced is None else forced
            self._next_seq = max(self._next_seq, seq) + 1
            try:
                # The consumer runs in its own task (own context copy): binding, not a
                # bind/unbind pair per event, is enough and costs a third as much.
                structlog.contextvars.bind_contextvars(event_seq=seq)
                await handler(seq, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken handler must not stop the node's dataplane
                self.failed += 1
                log.exception(
                    "event_handler_failed", event_seq=seq, event_repr=repr(event), error=str(exc)
                )
            finally:
                self.processed += 1
                self._queue.task_done()
