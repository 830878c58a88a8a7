"""Observability: transaction history, statuses, the desired view, DOT export, logging."""

from __future__ import annotations

import pytest
import structlog
from reconcile_fakes import SBError, Southbound, Val, descriptors, k, scheduler

from contivpp.reconcile import Operation, Scheduler, TxnKind, ValueState


async def test_history_records_trigger_plan_and_operations_with_values() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val("1")}, trigger="pod-1 added")
    record = await sched.commit(
        {k("if/a"): Val("2"), k("route/r"): Val(deps=("if/a",))}, trigger="pod-1 changed"
    )
    assert (record.seq, record.kind, record.trigger) == (2, TxnKind.NB_DELTA, "pod-1 changed")
    assert record.duration == pytest.approx(0.002)  # two waves of one 1 ms round trip
    summary = [(op.op, op.key, op.wave, op.prev_value, op.new_value) for op in record.executed]
    assert summary == [
        (Operation.UPDATE, "if/a", 1, Val("1"), Val("2")),
        (Operation.CREATE, "route/r", 2, None, Val(deps=("if/a",))),
    ]
    assert [(op.op, op.key, op.wave) for op in record.planned] == [
        (op, key, wave) for op, key, wave, _, _ in summary
    ]
    assert [op.new_state for op in record.executed] == [ValueState.CONFIGURED] * 2
    assert [r.seq for r in sched.history] == [1, 2]


async def test_history_records_failures_and_is_bounded() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, history_size=3)
    sb.fail("create", "if/x", SBError("boom", retriable=False))
    failed = await sched.commit({k("if/x"): Val()}, trigger="fails")
    (op,) = failed.executed
    assert (op.new_state, str(op.error), str(failed.errors["if/x"])) == (
        ValueState.FAILED,
        "boom",
        "boom",
    )
    for n in range(4):
        await sched.commit({k(f"if/{n}"): Val()}, trigger=f"t{n}")
    assert [r.seq for r in sched.history] == [3, 4, 5]


async def test_status_views_and_desired_set() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {k("if/a"): Val(), k("route/r"): Val(deps=("if/zz",)), k("route/s"): Val()}, trigger="t"
    )
    routes = sched.statuses("route/")
    assert list(routes) == ["route/r", "route/s"]
    assert routes[k("route/r")].state is ValueState.PENDING
    assert routes[k("route/s")].last_op is Operation.CREATE
    assert sched.status(k("nothing")).state is ValueState.NONEXISTENT
    view = sched.nb_values()
    assert dict(view) == {"if/a": Val(), "route/r": Val(deps=("if/zz",)), "route/s": Val()}
    with pytest.raises(TypeError):
        view[k("x")] = Val()  # type: ignore[index]


async def test_dot_export_shows_states_dependencies_and_derivations() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {
            k("if/a"): Val(derived=(("addr/a/1", Val()),)),
            k("route/r"): Val(deps=("if/a",)),
            k('cfg/"q"'): Val(deps=("if/missing",)),
        },
        trigger="t",
    )
    dot = sched.to_dot()
    assert dot.startswith("digraph kvscheduler {")
    assert '"route/r" -> "if/a" [label="dep if/a"];' in dot
    assert '"if/a" -> "addr/a/1" [style=dashed, label="derives"];' in dot
    assert '"cfg/\\"q\\"" [label="cfg/\\"q\\"\\npending", fillcolor=khaki];' in dot
    assert '"cfg/\\"q\\"" -> "missing: cfg/\\"q\\" / dep if/missing"' in dot
    assert sched.to_dot() == dot


async def test_one_log_line_per_transaction() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    with structlog.testing.capture_logs() as logs:
        await sched.commit({k("if/a"): Val(), k("route/r"): Val(deps=("if/a",))}, trigger="pod")
    (line,) = logs
    assert line["event"] == "reconcile_txn"
    assert (line["txn_seq"], line["trigger"], line["ops"], line["calls"]) == (1, "pod", 2, 2)
    assert line["duration_ms"] >= 0
    assert line["log_level"] == "info"


async def test_on_record_sees_every_transaction_as_it_is_recorded() -> None:
    seen: list[tuple[int, str]] = []
    sched = Scheduler(
        list(descriptors(Southbound()).values()),
        on_record=lambda record: seen.append((record.seq, record.trigger)),
    )
    await sched.commit({k("if/a"): Val("a")}, trigger="first")
    await sched.commit({k("if/a"): None}, trigger="second")
    assert seen == [(r.seq, r.trigger) for r in sched.history] == [(1, "first"), (2, "second")]
