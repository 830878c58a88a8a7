"""Running a plan against the descriptors: waves, concurrency, and a safety check per call.

Within a wave every operation is independent, so the calls are issued concurrently (up to
``max_in_flight``) in sorted key order - the southbound sees a deterministic request order and
many requests in flight. Between waves there is a barrier. Results are applied to the graph in
key order after the wave, so the graph evolves the same way whatever order replies arrive in.

A plan assumes every call succeeds. Failures are handled here, against what really exists now:
a create whose dependency failed to appear is skipped (the value stays PENDING); a derived value
waits for its base's create or update to succeed; a delete is refused while something present
still needs the value; and when a delete fails, everything the failed value rests on is pinned
for the rest of the transaction (and may not be updated to depend on anything new), so what
remains can always be taken down in order later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs
import structlog

from contivpp.errors import ReconcileError
from contivpp.reconcile.api import Key
from contivpp.reconcile.deps import same_shape
from contivpp.reconcile.graph import Graph, Node, Presence
from contivpp.reconcile.plan import Plan
from contivpp.reconcile.status import Operation, ValueState

_log = structlog.get_logger()


@attrs.define
class Outcome:
    """One operation as executed (property operations included, with no southbound call)."""

    op: Operation
    key: Key
    wave: int
    prev_value: object
    new_value: object
    prev_state: ValueState
    recreate: bool
    error: BaseException | None = None


@attrs.define
class _Call:
    op: Operation
    node: Node
    wave: int
    recreate: bool
    prev_value: object
    new_value: object
    prev_state: ValueState


class Executor:
    """Executes one plan; collects outcomes, failures and the number of southbound calls."""

    def __init__(self, graph: Graph, max_in_flight: int, *, first_wave: int = 1) -> None:
        self.graph = graph
        self.max_in_flight = max(1, max_in_flight)
        self.outcomes: list[Outcome] = []
        #: Keys whose operation failed, or could not run because of another failure.
        self.failed: dict[Key, BaseException] = {}
        self.calls = 0
        self._wave = first_wave - 1
        #: Keys that must stay because a value that failed to go rests on them (-> that value).
        self._pinned: dict[Key, Key] = {}
        #: Keys with a create or update in the plan, and those whose one succeeded.
        self._planned_writes: set[Key] = set()
        self._written: set[Key] = set()

    @property
    def waves(self) -> int:
        """The number of the last wave run."""
        return self._wave

    async def run(self, plan: Plan, *, stop_on_failure: bool = False) -> None:
        """Execute the plan (up to the first wave with a failure, if asked to stop)."""
        self._planned_writes = {key for ops in plan.write_waves for key, _ in ops}
        for keys in plan.delete_waves:
            await self._delete_wave(keys, plan.recreate, plan.cycle_breaking)
            if stop_on_failure and self.failed:
                return
        for ops in plan.write_waves:
            await self._write_wave(ops, plan.recreate)
            if stop_on_failure and self.failed:
                return
        for keys in plan.late_delete_waves:
            await self._delete_wave(keys, plan.recreate, plan.cycle_breaking)
            if stop_on_failure and self.failed:
                return

    # ---- deletes -----------------------------------------------------------------------
    async def _delete_wave(
        self, keys: Sequence[Key], recreate: set[Key], cycle_breaking: set[Key]
    ) -> None:
        self._wave += 1
        gone: set[Key] = set()
        presence = self.graph.presence(gone=gone)
        calls: list[_Call] = []
        for key in keys:
            node = self.graph.nodes.get(key)
            if node is None or not node.available:
                continue
            if key in self._pinned:
                self.failed[key] = ReconcileError(
                    f"{key}: not deleted: {self._pinned[key]} failed to go and still needs it"
                )
                continue
            blocker = self.graph.blocker(node, presence)
            if blocker is not None and key in cycle_breaking:
                _log.warning("reconcile_cycle_broken", key=key, dependent=blocker)
            elif blocker is not None:
                self.failed[key] = ReconcileError(
                    f"{key}: not deleted: {blocker} still depends on it"
                )
                continue
            gone.add(key)
            calls.append(self._call(Operation.DELETE, node, key in recreate, None))
        for call, error in zip(calls, await self._issue(calls), strict=True):
            node = call.node
            node.last_op = Operation.DELETE
            if error is None:
                self.graph.clear_applied(node)
            else:
                self.failed[node.key] = error
            self._record(call, error)
        for key in keys:
            if key in self.failed:
                self._pin(key)

    def _pin(self, key: Key) -> None:
        """Keep everything ``key`` rests on (base, providers, transitively): deleting one of
        them could leave what remains supported only in a circle, which no order can undo."""
        nodes = self.graph.nodes
        stack = [key]
        while stack:
            node = nodes[stack.pop()]
            supports = [] if node.base is None else [node.base]
            for dep in node.applied_deps:
                if dep.key is not None:
                    supports.append(dep.key)
                else:
                    supports.extend(self.graph.providers.providers(node.key, dep))
            for support in supports:
                target = nodes.get(support)
                if target is not None and target.available and support not in self._pinned:
                    self._pinned[support] = key
                    stack.append(support)

    # ---- creates and updates -------------------------------------------------------------
    async def _write_wave(self, ops: Sequence[tuple[Key, Operation]], recreate: set[Key]) -> None:
        self._wave += 1
        presence = self.graph.presence()
        calls: list[_Call] = []
        for key, op in ops:
            node = self.graph.nodes.get(key)
            if node is None or not node.wanted or not self._ready(node, presence):
                continue  # left PENDING; the final status says what is missing
            if node.available != (op is Operation.UPDATE):
                continue  # a failed delete left it in place: the failure is reported already
            if op is Operation.UPDATE and (kept := self._kept_property(node)) is not None:
                self.failed[key] = ReconcileError(
                    f"{key}: not updated: it would drop {kept}, which is still needed"
                )
                continue
            pinner = self._pinned.get(key) if op is Operation.UPDATE else None
            if pinner is not None and not same_shape(node.desired_deps, node.applied_deps):
                # A value that failed to go still rests on this one: new dependencies could
                # close a circle through it that no order can take down. Retried once it is gone.
                self.failed[key] = ReconcileError(
                    f"{key}: not updated: {pinner} failed to go and still rests on it, and the "
                    "update changes what it depends on"
                )
                continue
            calls.append(self._call(op, node, key in recreate, node.desired))
        for call, (metadata, error) in zip(calls, await self._issue_writes(calls), strict=True):
            node = call.node
            node.last_op = call.op
            if error is None:
                if call.op is Operation.CREATE or metadata is not None:
                    node.metadata = metadata
                self.graph.set_applied(node, call.new_value, node.desired_deps)
                self.graph.set_available(node, True)
                self._written.add(node.key)
            else:
                self.failed[node.key] = error
            self._record(call, error)

    def _kept_property(self, node: Node) -> Key | None:
        """A property the update would drop but that could not be removed first.

        A property is part of its base's value: updating the base removes it for real, so the
        values that still depend on it (their deletion failed) would be stranded.
        """
        for key in sorted(self.graph.children(node.key)):
            child = self.graph.nodes[key]
            if child.is_property and child.available and not child.wanted:
                return key
        return None

    def _ready(self, node: Node, presence: Presence) -> bool:
        base = node.base
        if base is not None:
            if not presence.has(base):
                return False
            if base in self._planned_writes and base not in self._written:
                return False  # derived from the base's new value, which did not make it
        return presence.satisfied(node.key, node.desired_deps)

    # ---- southbound ------------------------------------------------------------------
    def _call(self, op: Operation, node: Node, recreate: bool, new_value: object) -> _Call:
        return _Call(
            op=op,
            node=node,
            wave=self._wave,
            recreate=recreate,
            prev_value=node.applied,
            new_value=new_value,
            prev_state=node.state,
        )

    async def _issue(self, calls: Sequence[_Call]) -> list[BaseException | None]:
        return [error for _, error in await self._issue_writes(calls)]

    async def _issue_writes(
        self, calls: Sequence[_Call]
    ) -> list[tuple[object, BaseException | None]]:
        results: list[tuple[object, BaseException | None]] = [(None, None)] * len(calls)
        real = [i for i, call in enumerate(calls) if call.node.descriptor is not None]
        self.calls += len(real)
        if len(real) <= 1 or self.max_in_flight == 1:
            for i in real:
                results[i] = await _invoke(calls[i])
            return results
        queue = iter(real)

        async def worker() -> None:
            # Workers pull from one sorted iterator, so requests leave in key order.
            for i in queue:
                results[i] = await _invoke(calls[i])

        async with asyncio.TaskGroup() as group:
            for n in range(min(self.max_in_flight, len(real))):
                group.create_task(worker(), name=f"reconcile-call-{n}")
        return results

    def _record(self, call: _Call, error: BaseException | None) -> None:
        self.outcomes.append(
            Outcome(
                op=call.op,
                key=call.node.key,
                wave=call.wave,
                prev_value=call.prev_value,
                new_value=call.new_value,
                prev_state=call.prev_state,
                recreate=call.recreate,
                error=error,
            )
        )


async def _invoke(call: _Call) -> tuple[object, BaseException | None]:
    node = call.node
    descriptor = node.descriptor
    assert descriptor is not None  # property operations never reach here
    try:
        if call.op is Operation.CREATE:
            return await descriptor.create(node.key, call.new_value), None
        if call.op is Operation.UPDATE:
            return (
                await descriptor.update(node.key, call.prev_value, call.new_value, node.metadata),
                None,
            )
        await descriptor.delete(node.key, call.prev_value, node.metadata)
        return None, None
    except Exception as exc:  # the descriptor's failure is the value's outcome, not ours
        return None, exc
