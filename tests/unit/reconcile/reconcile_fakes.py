"""In-memory collaborators for the scheduler's unit tests: a fake southbound and descriptors.

They are not the product: they stand in for VPP so each test can say exactly what exists, which
calls arrive in which order, which call fails and how, and how many requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import attrs

from contivpp.errors import InvalidValueError
from contivpp.reconcile import (
    Correlated,
    Dependency,
    Descriptor,
    Key,
    KeyValue,
    Origin,
    Retrieved,
    RetryPolicy,
    Scheduler,
)


@attrs.frozen
class Val:
    """A test value: a payload plus the relations the test descriptor reads from it."""

    payload: str = ""
    #: Exact keys this value depends on (one label each: "dep <key>").
    deps: tuple[str, ...] = ()
    #: Prefixes of which any one existing key satisfies the value (one label: "any").
    any_of: tuple[str, ...] = ()
    #: Derived values as (key, value).
    derived: tuple[tuple[str, object], ...] = ()
    invalid: bool = False


class SBError(Exception):
    """A southbound failure; ``retriable`` is read by the default ``is_retriable``."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class Southbound:
    """What 'VPP' holds, every call made to it, and the failures it should inject."""

    def __init__(self, latency: float = 0.0) -> None:
        self.objects: dict[str, object] = {}
        self.metadata: dict[str, int] = {}
        self.origins: dict[str, Origin] = {}
        self.calls: list[tuple[str, str]] = []
        #: Loop time at which each call in ``calls`` arrived.
        self.times: list[float] = []
        #: Creates or updates that arrived before a dependency existed here.
        self.violations: list[str] = []
        self.retrieves: list[tuple[str, tuple[Correlated, ...]]] = []
        self.failures: dict[tuple[str, str], list[BaseException]] = {}
        self.latency = latency
        self.in_flight = 0
        self.peak_in_flight = 0
        self._next_index = 0

    def fail(self, op: str, key: str, *errors: BaseException) -> None:
        """Make the next ``len(errors)`` calls of ``op`` on ``key`` raise these errors."""
        self.failures.setdefault((op, key), []).extend(errors)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] in ("create", "update", "delete")]

    def ops_on(self, key: str) -> list[str]:
        return [op for op, k in self.calls if k == key]

    def index(self, op: str, key: str) -> int:
        """Position of the first ``op`` on ``key`` in the call log."""
        return self.calls.index((op, key))

    def put(self, key: str, value: object, *, origin: Origin = Origin.UNKNOWN) -> None:
        """Make a value exist behind the scheduler's back (drift, or VPP's own defaults)."""
        self.objects[key] = value
        self.metadata[key] = self._new_index()
        self.origins[key] = origin

    def wipe(self) -> None:
        """A southbound restart: everything is gone, except values VPP creates itself."""
        for key in [k for k in self.objects if self.origins.get(k) is not Origin.SB]:
            del self.objects[key]
            del self.metadata[key]

    async def call(self, op: str, key: str) -> None:
        self.calls.append((op, key))
        self.times.append(asyncio.get_running_loop().time())
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            else:
                await asyncio.sleep(0)
            queued = self.failures.get((op, key))
            if queued:
                raise queued.pop(0)
        finally:
            self.in_flight -= 1

    def _new_index(self) -> int:
        self._next_index += 1
        return self._next_index

    def _check_deps(self, op: str, key: str, value: object) -> None:
        if isinstance(value, Val):
            # Properties (prop/...) have no southbound object to check against.
            missing = [d for d in value.deps if not d.startswith("prop/") and d not in self.objects]
            if missing:
                self.violations.append(f"{op} {key} before {missing}")

    async def create(self, key: str, value: object) -> int:
        self._check_deps("create", key, value)
        await self.call("create", key)
        if key in self.objects:
            raise SBError(f"{key} already exists", retriable=False)
        self.objects[key] = value
        self.metadata[key] = self._new_index()
        return self.metadata[key]

    async def update(self, key: str, value: object) -> None:
        self._check_deps("update", key, value)
        await self.call("update", key)
        if key not in self.objects:
            raise SBError(f"{key} does not exist", retriable=False)
        self.objects[key] = value

    async def delete(self, key: str) -> None:
        await self.call("delete", key)
        if key not in self.objects:
            raise SBError(f"{key} does not exist", retriable=False)
        del self.objects[key]
        del self.metadata[key]


class TestDescriptor(Descriptor[Val, int]):
    """Manages :class:`Val` values under one key prefix in a :class:`Southbound`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        sb: Southbound,
        name: str,
        prefix: str,
        *,
        supports_update: bool = True,
        supports_retrieve: bool = True,
        retrieve_after: tuple[str, ...] = (),
        selector: Callable[[Key], bool] | None = None,
        is_retriable: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.sb = sb
        self.name = name
        self.key_prefix = prefix
        self.supports_update = supports_update
        self.supports_retrieve = supports_retrieve
        self.retrieve_after = retrieve_after
        self.selector = selector
        self._is_retriable = is_retriable
        self.pure_calls = 0
        self.updates: list[tuple[str, object, object, int | None]] = []
        self.deletes: list[tuple[str, object, int | None]] = []

    def validate(self, key: Key, value: Val) -> None:
        self.pure_calls += 1
        if value.invalid:
            raise InvalidValueError(key, "marked invalid", ("invalid",))

    def equivalent(self, key: Key, old: Val, new: Val) -> bool:
        self.pure_calls += 1
        return old == new

    def dependencies(self, key: Key, value: Val) -> Sequence[Dependency]:
        self.pure_calls += 1
        deps = [Dependency(label=f"dep {k}", key=Key(k)) for k in value.deps]
        if value.any_of:
            deps.append(Dependency(label="any", any_of_prefixes=value.any_of))
        if self.selector is not None and value.payload.startswith("sel"):
            deps.append(Dependency(label="selected", any_of_selector=self.selector))
        return deps

    def derived_values(self, key: Key, value: Val) -> Sequence[KeyValue]:
        self.pure_calls += 1
        return [KeyValue(Key(k), v) for k, v in value.derived]

    def is_retriable(self, error: BaseException) -> bool:
        if self._is_retriable is not None:
            return self._is_retriable(error)
        return super().is_retriable(error)

    async def create(self, key: Key, value: Val) -> int:
        return await self.sb.create(key, value)

    async def update(self, key: Key, old: Val, new: Val, metadata: int | None) -> int | None:
        self.updates.append((key, old, new, metadata))
        await self.sb.update(key, new)
        return None

    async def delete(self, key: Key, value: Val, metadata: int | None) -> None:
        self.deletes.append((key, value, metadata))
        await self.sb.delete(key)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        self.sb.retrieves.append((self.name, tuple(correlate)))
        return [
            Retrieved(
                key=Key(k),
                value=v,
                metadata=self.sb.metadata[k],
                origin=self.sb.origins.get(k, Origin.UNKNOWN),
            )
            for k, v in sorted(self.sb.objects.items())
            if k.startswith(self.key_prefix)
        ]


def descriptors(sb: Southbound) -> dict[str, TestDescriptor]:
    """The standard kinds: interfaces, routes (recreated on change), addresses (derived)."""
    return {
        "if": TestDescriptor(sb, "if", "if/"),
        "route": TestDescriptor(
            sb, "route", "route/", supports_update=False, retrieve_after=("if",)
        ),
        "addr": TestDescriptor(sb, "addr", "addr/", supports_update=False, supports_retrieve=False),
        "cfg": TestDescriptor(sb, "cfg", "cfg/", supports_retrieve=False),
    }


NO_RETRY = RetryPolicy(max_attempts=0)


def scheduler(sb: Southbound, **kwargs: object) -> tuple[Scheduler, dict[str, TestDescriptor]]:
    kinds = descriptors(sb)
    return Scheduler(list(kinds.values()), **kwargs), kinds  # type: ignore[arg-type]


def k(text: str) -> Key:
    return Key(text)


@contextlib.asynccontextmanager
async def retrying(sched: Scheduler) -> AsyncIterator[None]:
    """Run the scheduler's retry task for the duration of the block."""
    task = asyncio.create_task(sched.run(), name="retries")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
