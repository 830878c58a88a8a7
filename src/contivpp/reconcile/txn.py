"""One transaction from request to record: the pipeline every commit, resync and retry runs.

Steps: (refresh from the southbound, for resyncs) -> record the requested values -> plan ->
execute -> (on failure with revert-on-failure: restore the previous requests, plan and execute
again) -> settle the final state of every key in the region (CONFIGURED, PENDING, FAILED,
RETRYING with a scheduled retry ...) -> optional verification -> history record and one log
line. The caller holds the transaction lock.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import structlog

from contivpp.errors import InvalidValueError, ReconcileError
from contivpp.reconcile.api import Key, Origin
from contivpp.reconcile.desired import evaluate, request
from contivpp.reconcile.execute import Executor, Outcome
from contivpp.reconcile.graph import Node, Presence
from contivpp.reconcile.history import Drift, OpRecord, TxnKind, TxnRecord
from contivpp.reconcile.plan import Plan, make_plan
from contivpp.reconcile.resync import ResyncKind, refresh, verify
from contivpp.reconcile.state import SchedulerState
from contivpp.reconcile.status import Operation, ValueState

_log = structlog.get_logger()


@attrs.frozen
class TxnSpec:
    """What a transaction should do."""

    kind: TxnKind
    trigger: str
    #: Requested values by key (None: delete).
    changes: Mapping[Key, object | None] = attrs.field(factory=dict)
    #: Keys to settle again without a new request (retries).
    recheck: frozenset[Key] = frozenset()
    revert_on_failure: bool = False
    refresh: ResyncKind | None = None


async def transact(state: SchedulerState, spec: TxnSpec) -> TxnRecord:
    """Run one transaction to the end and record it. The caller holds the lock."""
    state.seq += 1
    txn = _Transaction(state, spec, seq=state.seq, started=state.clock.now())
    await txn.prepare()
    await txn.execute()
    txn.settle()
    if state.verify:
        await txn.verify()
    return txn.record()


class _Transaction:
    """The working state of one transaction, filled stage by stage."""

    def __init__(self, state: SchedulerState, spec: TxnSpec, *, seq: int, started: float):
        self.state = state
        self.spec = spec
        self.seq = seq
        self.started = started
        self.is_retry = spec.kind is TxnKind.RETRY
        self.dirty: set[Key] = set()
        self.undo = _Undo()
        self.retrieve_errors: dict[str, BaseException] = {}
        self.planned: tuple[OpRecord, ...] = ()
        self.outcomes: list[tuple[Outcome, bool]] = []
        self.region: set[Key] = set()
        self.calls = 0
        self.reverted = False
        self.failed: dict[Key, BaseException] = {}
        self.caused_revert: dict[Key, BaseException] = {}
        self.errors: dict[Key, BaseException] = {}
        self.executed: tuple[OpRecord, ...] = ()
        self.drift: tuple[Drift, ...] = ()

    async def prepare(self) -> None:
        """Refresh (resyncs), record the requests, and collect the dirty keys."""
        state, spec = self.state, self.spec
        if spec.refresh is not None:
            wiped = spec.refresh is ResyncKind.DOWNSTREAM
            self.retrieve_errors.update(await refresh(state, wiped=wiped, requested=spec.changes))
        self.undo = _apply(state, spec.changes, self.dirty)
        if spec.refresh is not None:
            # Everything is re-examined: the refresh may have changed any applied value, and
            # the derived values of retrieved bases must be matched against the desired ones.
            for node in list(state.graph.nodes.values()):
                if node.base is None and node.desired is not None:
                    node.attempts = 0
                    evaluate(state.graph, state.registry, node, self.dirty)
            self.dirty.update(state.graph.nodes)
        for key in sorted(spec.recheck):
            retried = state.graph.get(key)
            if retried is None:
                continue
            if retried.problem is ValueState.UNIMPLEMENTED:
                # Its descriptor may have been registered since.
                state.graph.set_descriptor(retried, state.registry.lookup(key))
                evaluate(state.graph, state.registry, retried, self.dirty)
            self.dirty.add(key)

    async def execute(self) -> None:
        """Plan and execute; on failure with revert-on-failure, converge back."""
        state, spec = self.state, self.spec
        plan = make_plan(state.graph, self.dirty, suspect_all=spec.refresh is not None)
        self.planned = _planned(state, plan, retry=self.is_retry)
        executor = Executor(state.graph, state.max_in_flight)
        await executor.run(plan, stop_on_failure=spec.revert_on_failure)
        self.outcomes = [(outcome, False) for outcome in executor.outcomes]
        self.region = set(plan.region)
        self.calls = executor.calls
        self.failed = executor.failed
        if spec.revert_on_failure and executor.failed:
            self.caused_revert = dict(executor.failed)
            await self._revert(executor)

    async def _revert(self, failed: Executor) -> None:
        # Restore the previous requests and converge to them. The revert's own failures are
        # final (FAILED, no retry), as in vpp-agent: a reverted transaction must not come back.
        state = self.state
        self.reverted = True
        undo_dirty = set(self.region)
        _apply(state, self.undo.values, undo_dirty)
        for key in self.undo.sb_owned:
            _give_back(state, key)
        plan = make_plan(state.graph, undo_dirty)
        reverter = Executor(state.graph, state.max_in_flight, first_wave=failed.waves + 1)
        await reverter.run(plan)
        self.outcomes += [(outcome, True) for outcome in reverter.outcomes]
        self.region |= plan.region
        self.calls += reverter.calls
        self.failed = reverter.failed

    def settle(self) -> None:
        """Final states, retries, history operations; forget removed keys."""
        state = self.state
        self.errors = _settle(
            state,
            self.region,
            self.failed,
            retry_keys=self.spec.recheck if self.is_retry else frozenset(),
            allow_retry=not self.spec.revert_on_failure,
        )
        if self.reverted:
            # The failure that caused the revert is the transaction's error even though the
            # key is back to its previous state.
            self.errors = {**self.caused_revert, **self.errors}
        self.executed = tuple(
            _executed(state, outcome, revert, self.is_retry) for outcome, revert in self.outcomes
        )
        _forget_removed(state, self.region)

    async def verify(self) -> None:
        touched = [o.key for o, _ in self.outcomes if o.error is None]
        found, errors = await verify(self.state, touched)
        self.drift = tuple(found)
        self.retrieve_errors.update(errors)

    def _state_of(self, key: Key) -> ValueState:
        node = self.state.graph.get(key)
        return ValueState.NONEXISTENT if node is None else node.state

    def record(self) -> TxnRecord:
        duration = self.state.clock.now() - self.started
        record = TxnRecord(
            seq=self.seq,
            kind=self.spec.kind,
            trigger=self.spec.trigger,
            started=self.started,
            duration=duration,
            planned=self.planned,
            executed=self.executed,
            errors=self.errors,
            retrieve_errors=self.retrieve_errors,
            drift=self.drift,
            retrying=frozenset(k for k in self.errors if self._state_of(k) is ValueState.RETRYING),
            calls=self.calls,
            reverted=self.reverted,
        )
        self.state.history.append(record)
        troubled = record.errors or record.drift or record.retrieve_errors
        log = _log.warning if troubled else _log.info
        log(
            "reconcile_txn",
            txn_seq=record.seq,
            trigger=record.trigger,
            kind=record.kind.value,
            ops=len(record.executed),
            calls=record.calls,
            failed=len(record.errors),
            drift=len(record.drift),
            reverted=record.reverted,
            duration_ms=round(duration * 1000, 3),
        )
        return record


@attrs.define
class _Undo:
    """What restores the requests of a transaction (revert-on-failure)."""

    values: dict[Key, object | None] = attrs.field(factory=dict)
    #: Keys the southbound owned before the northbound requested them.
    sb_owned: set[Key] = attrs.field(factory=set)


def _apply(state: SchedulerState, changes: Mapping[Key, object | None], dirty: set[Key]) -> _Undo:
    """Record new requests; return what undoes them."""
    undo = _Undo()
    graph = state.graph
    for key in sorted(changes):
        value = changes[key]
        node = graph.get(key)
        if node is not None and node.origin is Origin.SB:
            if value is None:
                continue  # the northbound cannot delete what it does not own
            undo.sb_owned.add(key)
        undo.values[key] = node.desired if node is not None and node.base is None else None
        request(graph, state.registry, key, value, dirty)
        if (node := graph.get(key)) is not None:
            node.attempts = 0  # a new request gets a fresh retry budget
        state.retries.cancel(key)
    return undo


def _give_back(state: SchedulerState, key: Key) -> None:
    """Return a key to the southbound's ownership (undoing a request for an SB value)."""
    node = state.graph.get(key)
    if node is None or node.desired is not None:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        current.origin = Origin.SB
        stack.extend(state.graph.nodes[k] for k in state.graph.children(current.key))


def _settle(
    state: SchedulerState,
    region: set[Key],
    failed: Mapping[Key, BaseException],
    *,
    retry_keys: frozenset[Key],
    allow_retry: bool,
) -> dict[Key, BaseException]:
    """Give every key of the region its final state; schedule retries; return the failures."""
    graph = state.graph
    presence = graph.presence()
    now = state.clock.now()
    errors: dict[Key, BaseException] = {}
    for key in sorted(region):
        node = graph.get(key)
        if node is None:
            continue
        error = failed.get(key)
        if node.origin is Origin.SB:
            _set(node, ValueState.OBTAINED if node.available else ValueState.REMOVED)
        elif node.wanted and node.in_sync():
            _set(node, ValueState.CONFIGURED)
            node.attempts = 0
        elif not node.wanted and not node.available:
            if node.problem is not None:
                _set(node, node.problem, error=node.problem_error)
            else:
                _set(node, ValueState.REMOVED)
        elif error is None and node.wanted:
            _set(node, ValueState.PENDING, missing=_missing(node, presence))
        else:
            if error is None:  # still present although nobody wants it: try again later
                error = ReconcileError(f"{key}: could not be removed")
            errors[key] = error
            if key in retry_keys:
                node.attempts += 1
            attempt = node.attempts + 1
            if allow_retry and _retriable(node, error) and state.policy.allows(attempt):
                _set(node, ValueState.RETRYING, error=error)
                state.retries.schedule(key, now + state.policy.delay(attempt))
                continue
            _set(node, ValueState.FAILED, error=error)
        state.retries.cancel(key)
    return errors


def _set(
    node: Node,
    state: ValueState,
    *,
    error: BaseException | None = None,
    missing: tuple[str, ...] = (),
) -> None:
    node.state = state
    node.error = error
    node.missing = missing


def _missing(node: Node, presence: Presence) -> tuple[str, ...]:
    labels = presence.missing(node.key, node.desired_deps)
    if node.base is not None and not presence.has(node.base):
        labels = (f"base {node.base}", *labels)
    return labels


def _retriable(node: Node, error: BaseException) -> bool:
    if isinstance(error, (InvalidValueError, NotImplementedError)):
        return False
    if type(error) is ReconcileError:
        return True  # blocked by another value's failure: heals when that one does
    if node.descriptor is None:
        return True
    try:
        return bool(node.descriptor.is_retriable(error))
    except Exception:
        return False


def _forget_removed(state: SchedulerState, region: set[Key]) -> None:
    for key in sorted(region):
        node = state.graph.get(key)
        if node is not None and node.state is ValueState.REMOVED and not node.available:
            state.graph.drop(node)


def _planned(state: SchedulerState, plan: Plan, *, retry: bool) -> tuple[OpRecord, ...]:
    nodes = state.graph.nodes
    records: list[OpRecord] = []
    wave = 0

    def deletes(waves: list[list[Key]]) -> None:
        nonlocal wave
        for keys in waves:
            wave += 1
            for key in keys:
                node = nodes[key]
                records.append(
                    OpRecord(
                        op=Operation.DELETE,
                        key=key,
                        wave=wave,
                        prev_value=node.applied,
                        prev_state=node.state,
                        new_state=ValueState.PENDING if node.wanted else ValueState.REMOVED,
                        derived=node.base is not None,
                        property=node.is_property,
                        recreate=key in plan.recreate,
                        retry=retry,
                    )
                )

    deletes(plan.delete_waves)
    for ops in plan.write_waves:
        wave += 1
        for key, op in ops:
            node = nodes[key]
            records.append(
                OpRecord(
                    op=op,
                    key=key,
                    wave=wave,
                    prev_value=node.applied if op is Operation.UPDATE else None,
                    new_value=node.desired,
                    prev_state=node.state,
                    new_state=ValueState.CONFIGURED,
                    derived=node.base is not None,
                    property=node.is_property,
                    recreate=key in plan.recreate,
                    retry=retry,
                )
            )
    deletes(plan.late_delete_waves)
    return tuple(records)


def _executed(state: SchedulerState, outcome: Outcome, revert: bool, retry: bool) -> OpRecord:
    node = state.graph.get(outcome.key)
    if outcome.error is not None:
        new_state = node.state if node is not None else ValueState.FAILED
    elif outcome.op is Operation.DELETE:
        wanted = node is not None and node.wanted
        new_state = ValueState.PENDING if wanted or outcome.recreate else ValueState.REMOVED
    else:
        new_state = ValueState.CONFIGURED
    return OpRecord(
        op=outcome.op,
        key=outcome.key,
        wave=outcome.wave,
        prev_value=outcome.prev_value,
        new_value=outcome.new_value,
        prev_state=outcome.prev_state,
        new_state=new_state,
        error=outcome.error,
        derived=node is not None and node.base is not None,
        property=node is not None and node.is_property,
        recreate=outcome.recreate,
        revert=revert,
        retry=retry,
    )
