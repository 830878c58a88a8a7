"""Retry policy and the per-key queue of retries that are due later.

A retriable failure (VPP busy, socket hiccup) should heal on its own without a new event, but a
value that keeps failing must not hammer the southbound: each key backs off exponentially, up to
a cap, for a bounded number of attempts (controller-runtime's "retry with backoff" outcome). The
queue is a heap with lazy deletion so scheduling, cancelling and popping cost O(log n) no matter
how many keys are waiting.
"""

from __future__ import annotations

import heapq

import attrs

from contivpp.reconcile.api import Key


@attrs.frozen
class RetryPolicy:
    """How failed values are retried.

    Retry ``n`` (1-based) of a key waits ``initial_delay * multiplier ** (n - 1)`` seconds,
    capped at ``max_delay``. ``max_attempts`` bounds the retries per key (``None``: unlimited,
    ``0``: never retry). The defaults follow Contiv's controller (1 s, exponential, 3 attempts).
    """

    initial_delay: float = attrs.field(default=1.0, validator=attrs.validators.ge(0.0))
    max_delay: float = attrs.field(default=30.0, validator=attrs.validators.ge(0.0))
    multiplier: float = attrs.field(default=2.0, validator=attrs.validators.ge(1.0))
    max_attempts: int | None = 3

    def __attrs_post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0 or None, got {self.max_attempts}")

    def allows(self, attempt: int) -> bool:
        """True when retry number ``attempt`` (1-based) may still be made."""
        return self.max_attempts is None or attempt <= self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        exponent = max(attempt - 1, 0)
        # Cap before multiplying out: a large exponent would overflow the float long before
        # an unlimited policy runs out of attempts.
        delay = self.initial_delay
        for _ in range(exponent):
            delay *= self.multiplier
            if delay >= self.max_delay:
                return self.max_delay
        return min(delay, self.max_delay)


#: The policy used when none is given (module-level so it is a constant, not a call default).
DEFAULT_RETRY = RetryPolicy()


class RetryQueue:
    """Keys waiting for a retry, each with its due time."""

    def __init__(self) -> None:
        self._due: dict[Key, float] = {}
        self._heap: list[tuple[float, Key]] = []

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def due_time(self, key: Key) -> float | None:
        return self._due.get(key)

    def schedule(self, key: Key, due: float) -> None:
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))

    def cancel(self, key: Key) -> None:
        # The heap entry stays behind and is skipped when it surfaces (lazy deletion).
        self._due.pop(key, None)

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Key]:
        """Remove and return (sorted) every key due at or before ``now``."""
        keys: list[Key] = []
        while self._heap and self._heap[0][0] <= now:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:
                del self._due[key]
                keys.append(key)
        return sorted(keys)

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
