"""Exponential back-off with jitter, for every retry loop against etcd and the Kubernetes API.

A retry loop that hammers a down server delays its recovery and floods the logs; one that
waits too long delays ours. Each attempt doubles the delay up to a cap, a success resets it,
and a little jitter keeps many clients (agents on every node) from retrying in lockstep.
"""

from __future__ import annotations

import asyncio
import random

import attrs


@attrs.define
class Backoff:
    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2  # +- this fraction of the delay
    attempts: int = 0

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self.attempts = 0

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay
