"""The KV scheduler's public face: commits, resyncs, retries and read-only views.

Everything that changes the graph runs as a transaction under one lock, so transactions are
serialized and each sees the previous one's result - the same model as vpp-agent's single
transaction goroutine. Retries are transactions too: ``run()`` is the long-lived task that
executes them when they fall due, and ``settle()`` lets callers (and tests) wait until nothing is
left to retry. Read-only views (status, desired set, history, DOT) never take the lock.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType

import attrs

from contivpp.errors import ReconcileError
from contivpp.reconcile.api import AnyDescriptor, Correlated, Key, Origin
from contivpp.reconcile.clock import Clock, LoopClock
from contivpp.reconcile.desired import check_requestable
from contivpp.reconcile.dot import to_dot
from contivpp.reconcile.graph import Graph
from contivpp.reconcile.history import History, TxnKind, TxnRecord
from contivpp.reconcile.registry import Registry
from contivpp.reconcile.resync import ResyncKind
from contivpp.reconcile.retry import DEFAULT_RETRY, RetryPolicy, RetryQueue
from contivpp.reconcile.state import SchedulerState
from contivpp.reconcile.status import ValueState, ValueStatus
from contivpp.reconcile.txn import TxnSpec, transact

#: States that a repeated request of the same value should try to fix.
_UNSETTLED = frozenset({ValueState.FAILED, ValueState.RETRYING, ValueState.MISSING})


class Scheduler:
    """Keeps the southbound equal to the desired key/value set, through descriptors."""

    def __init__(
        self,
        descriptors: Sequence[AnyDescriptor] = (),
        *,
        max_in_flight: int = 64,
        retry: RetryPolicy = DEFAULT_RETRY,
        history_size: int = 1000,
        verify: bool = False,
        clock: Clock | None = None,
        on_record: Callable[[TxnRecord], None] | None = None,
    ) -> None:
        """``on_record`` is called with every finished transaction (metrics, logs), so
        observers need not poll the history."""
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self._state = SchedulerState(
            graph=Graph(),
            registry=Registry(),
            retries=RetryQueue(),
            policy=retry,
            clock=LoopClock() if clock is None else clock,
            history=History(history_size, on_record),
            max_in_flight=max_in_flight,
            verify=verify,
        )
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._done = _Signal()
        for descriptor in descriptors:
            self.register(descriptor)

    # ---- descriptors -------------------------------------------------------------------
    def register(self, descriptor: AnyDescriptor) -> None:
        """Add a descriptor. Values requested earlier for its keys are retried right away."""
        state = self._state
        state.registry.register(descriptor)
        waiting = [
            node
            for node in state.graph.nodes.values()
            if node.problem is ValueState.UNIMPLEMENTED and state.registry.lookup(node.key)
        ]
        for node in sorted(waiting, key=lambda n: n.key):
            # Bound to the descriptor by the retry transaction, under the lock.
            state.retries.schedule(node.key, -math.inf)
        if waiting:
            self._wake.set()

    # ---- transactions --------------------------------------------------------------------
    async def commit(
        self,
        delta: Mapping[Key, object | None],
        *,
        trigger: str,
        revert_on_failure: bool = False,
    ) -> TxnRecord:
        """Apply a change of the desired set (None deletes a key).

        Costs O(size of delta + what it cascades to), independent of the graph size. Keys whose
        value did not change (and that are not failing) are skipped, so a repeated commit
        issues no southbound call.
        """
        async with self._lock:
            graph = self._state.graph
            for key in delta:
                check_requestable(graph, key)
            changes = {k: v for k, v in delta.items() if self._changes(k, v)}
            spec = TxnSpec(
                kind=TxnKind.NB_DELTA,
                trigger=trigger,
                changes=changes,
                revert_on_failure=revert_on_failure,
            )
            return await self._transact(spec)

    async def commit_full(self, desired: Mapping[Key, object], *, trigger: str) -> TxnRecord:
        """Replace the whole desired set: keys not in ``desired`` are deleted. O(N) diff."""
        async with self._lock:
            spec = TxnSpec(kind=TxnKind.NB_FULL, trigger=trigger, changes=self._diff(desired))
            return await self._transact(spec)

    async def resync(
        self,
        kind: ResyncKind,
        *,
        desired: Mapping[Key, object] | None = None,
        trigger: str,
    ) -> TxnRecord:
        """Read the southbound back, then converge to ``desired`` (or the last desired set).

        ``FULL`` trusts descriptors that cannot retrieve; ``DOWNSTREAM`` (after a southbound
        restart) assumes their values are gone and re-creates them, and always re-applies the
        last desired set.
        """
        if kind is ResyncKind.DOWNSTREAM and desired is not None:
            raise ReconcileError(
                "a downstream resync re-applies the last desired set; "
                "pass `desired` only with ResyncKind.FULL"
            )
        async with self._lock:
            changes = {} if desired is None else self._diff(desired)
            txn_kind = TxnKind.FULL_RESYNC if kind is ResyncKind.FULL else TxnKind.DOWNSTREAM_RESYNC
            spec = TxnSpec(kind=txn_kind, trigger=trigger, changes=changes, refresh=kind)
            return await self._transact(spec)

    def _changes(self, key: Key, value: object | None) -> bool:
        node = self._state.graph.get(key)
        if node is None:
            return value is not None
        if value is None:
            return node.origin is Origin.NB and (
                node.desired is not None or node.available or node.state in _UNSETTLED
            )
        if node.desired is None or node.origin is not Origin.NB:
            return True
        if node.desired is not value and node.desired != value:
            return True
        return node.state in _UNSETTLED

    def _diff(self, desired: Mapping[Key, object]) -> dict[Key, object | None]:
        graph = self._state.graph
        for key in desired:
            check_requestable(graph, key)
        changes: dict[Key, object | None] = {
            key: None for key in self._state.nb_values() if key not in desired
        }
        changes.update((k, v) for k, v in desired.items() if self._changes(k, v))
        return changes

    async def _transact(self, spec: TxnSpec) -> TxnRecord:
        try:
            return await transact(self._state, spec)
        finally:
            self._wake.set()  # new retries may be due earlier than run() thinks
            self._done.fire()

    # ---- retries -------------------------------------------------------------------------
    async def run(self) -> None:
        """Execute retries as they fall due. A long-lived task; cancel it to stop."""
        state = self._state
        while True:
            self._wake.clear()
            due = state.retries.next_due()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - state.clock.now()
            if delay > 0:
                await _first(self._wake.wait(), state.clock.sleep(delay))
                continue
            async with self._lock:
                keys = state.retries.pop_due(state.clock.now())
                if keys:
                    spec = TxnSpec(kind=TxnKind.RETRY, trigger="retry", recheck=frozenset(keys))
                    await self._transact(spec)

    # The timeout is measured on the injectable clock, which asyncio.timeout() would bypass.
    async def settle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until no retry is pending and no transaction runs; False on timeout."""
        clock = self._state.clock
        deadline = clock.now() + timeout
        while len(self._state.retries) or self._lock.locked():
            remaining = deadline - clock.now()
            if remaining <= 0:
                return False
            await _first(self._done.wait(), clock.sleep(remaining))
        return True

    def retry_due(self, key: Key) -> float | None:
        """Clock time of the next retry of ``key``, if one is scheduled."""
        return self._state.retries.due_time(key)

    # ---- views ---------------------------------------------------------------------------
    def status(self, key: Key) -> ValueStatus:
        node = self._state.graph.get(key)
        if node is None:
            return ValueStatus(key=key)
        return ValueStatus(
            key=key,
            state=node.state,
            origin=node.origin,
            value=node.desired if node.desired is not None else node.applied,
            error=node.error,
            missing=node.missing,
            last_op=node.last_op,
            attempts=node.attempts,
            derived_from=node.base,
        )

    def statuses(self, prefix: str = "") -> Mapping[Key, ValueStatus]:
        """Status of every known key starting with ``prefix``, sorted by key."""
        keys = sorted(k for k in self._state.graph.nodes if k.startswith(prefix))
        return {key: self.status(key) for key in keys}

    def nb_values(self) -> Mapping[Key, object]:
        """The desired set as last requested (a read-only snapshot, O(N))."""
        return MappingProxyType(self._state.nb_values())

    @property
    def history(self) -> Sequence[TxnRecord]:
        """The recorded transactions, oldest first (at most ``history_size``)."""
        return self._state.history.snapshot()

    def to_dot(self) -> str:
        """The graph in Graphviz DOT."""
        return to_dot(self._state.graph)

    async def read_southbound(self, prefix: str = "") -> SouthboundView:
        """What the descriptors retrieve right now under ``prefix``, without changing the graph.

        For operators comparing belief and reality. Taken under the lock so no transaction is
        half-done while reading; descriptors that cannot retrieve are listed, not guessed.
        """
        async with self._lock:
            state = self._state
            graph = state.graph
            view = SouthboundView()
            for descriptor in state.registry.retrieve_order():
                if descriptor.key_prefix and not (
                    descriptor.key_prefix.startswith(prefix)
                    or prefix.startswith(descriptor.key_prefix)
                ):
                    continue
                if not descriptor.supports_retrieve:
                    view.not_retrievable.append(descriptor.name)
                    continue
                correlate = [
                    Correlated(key=k, value=value, metadata=node.metadata)
                    for k in sorted(graph.keys_of(descriptor.name))
                    if (node := graph.nodes[k]).base is None
                    and (value := node.desired if node.desired is not None else node.applied)
                    is not None
                ]
                try:
                    retrieved = await descriptor.retrieve(correlate)
                except Exception as exc:  # reported per descriptor, like a resync does
                    view.errors[descriptor.name] = str(exc)
                    continue
                for item in retrieved:
                    if item.key.startswith(prefix) and item.value is not None:
                        view.values[item.key] = (item.value, item.origin)
            view.values = dict(sorted(view.values.items()))
            return view


@attrs.define
class SouthboundView:
    """The result of :meth:`Scheduler.read_southbound`."""

    #: Key -> (value as retrieved, who owns it).
    values: dict[Key, tuple[object, Origin]] = attrs.field(factory=dict)
    #: Descriptors whose values cannot be read back (their state is only believed).
    not_retrievable: list[str] = attrs.field(factory=list)
    #: Descriptor name -> why its retrieve failed.
    errors: dict[str, str] = attrs.field(factory=dict)


class _Signal:
    """Wakes every waiter each time it fires (an edge-triggered event)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def wait(self) -> Awaitable[bool]:
        return self._event.wait()


async def _first(*awaitables: Awaitable[object]) -> None:
    """Wait until the first of ``awaitables`` finishes; cancel (and reap) the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
