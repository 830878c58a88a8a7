"""Test set-up for the reconciler: every async test runs on a virtual-time event loop.

Retry back-off and simulated southbound latency are real ``asyncio.sleep`` calls in the code
under test; on this loop time jumps to the next timer whenever nothing is ready to run, so the
tests exercise real timers without waiting for them.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Mapping

import pytest


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking and turns every wait into a jump of the virtual clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events:
            return events
        if timeout is None:
            # Nothing scheduled at all: only another thread could wake us. Give it a real
            # moment, then call it what it is (a deadlock) instead of hanging the test run.
            events = super().select(5.0)
            if not events:
                raise RuntimeError("virtual-time loop: nothing scheduled, the test is deadlocked")
            return events
        self.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jumping = _JumpingSelector()
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"virtual-time": VirtualTimeLoop}
