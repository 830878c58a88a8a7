"""The scheduler's notion of time, injectable so retry back-off can be tested without waiting.

Only two things need time: stamping transactions and sleeping until the next retry is due. Both
go through :class:`Clock`, whose default reads the running event loop's clock, so a test that
runs on a virtual-time loop (or injects its own clock) never sleeps for real.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Clock(Protocol):
    """A monotonic clock in seconds and a way to sleep on it."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock (``loop.time()``) and ``asyncio.sleep``."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
