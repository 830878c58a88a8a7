"""Failures: retries with back-off, final failures, blocked deletes, revert-on-failure."""

from __future__ import annotations

import asyncio

import pytest
from reconcile_fakes import (
    NO_RETRY,
    SBError,
    Southbound,
    TestDescriptor,
    Val,
    k,
    retrying,
    scheduler,
)

from contivpp.errors import DescriptorError, ReconcileError, TransactionError
from contivpp.reconcile import Descriptor, RetryPolicy, Scheduler, TxnKind, ValueState


async def test_retriable_failure_is_retried_with_capped_exponential_backoff() -> None:
    sb = Southbound()
    policy = RetryPolicy(initial_delay=1.0, max_delay=3.0, multiplier=2.0, max_attempts=5)
    sched, _ = scheduler(sb, retry=policy)
    sb.fail("create", "if/a", *(SBError(f"busy {n}") for n in range(3)))

    record = await sched.commit({k("if/a"): Val()}, trigger="add")
    assert sched.status(k("if/a")).state is ValueState.RETRYING
    assert list(record.errors) == ["if/a"]
    async with retrying(sched):
        assert await sched.settle(60)

    assert sched.status(k("if/a")).state is ValueState.CONFIGURED
    gaps = [round(b - a, 6) for a, b in zip(sb.times, sb.times[1:], strict=False)]
    assert gaps == [1.0, 2.0, 3.0]  # doubled, then capped at max_delay
    assert [r.kind for r in sched.history] == [TxnKind.NB_DELTA] + [TxnKind.RETRY] * 3
    assert all(op.retry for op in sched.history[-1].executed)


async def test_retries_stop_after_max_attempts() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, retry=RetryPolicy(initial_delay=0.5, max_attempts=2))
    sb.fail("create", "if/a", *(SBError("busy") for _ in range(10)))
    await sched.commit({k("if/a"): Val()}, trigger="add")
    async with retrying(sched):
        assert await sched.settle(60)
    status = sched.status(k("if/a"))
    assert (status.state, status.attempts) == (ValueState.FAILED, 2)
    assert str(status.error) == "busy"
    assert sb.ops_on("if/a") == ["create"] * 3


async def test_non_retriable_failure_fails_at_once_with_a_clear_status() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    sb.fail("create", "if/a", SBError("no such NIC", retriable=False))
    await sched.commit({k("if/a"): Val()}, trigger="add")
    status = sched.status(k("if/a"))
    assert (status.state, str(status.error)) == (ValueState.FAILED, "no such NIC")
    assert sched.retry_due(k("if/a")) is None
    assert await sched.settle(1)


async def test_descriptor_decides_what_is_retriable() -> None:
    sb = Southbound()
    sched = Scheduler([TestDescriptor(sb, "if", "if/", is_retriable=lambda e: False)])
    sb.fail("create", "if/a", SBError("transient, says the error"))
    await sched.commit({k("if/a"): Val()}, trigger="add")
    assert sched.status(k("if/a")).state is ValueState.FAILED


async def test_dependents_of_a_failed_value_wait_for_its_successful_retry() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    sb.fail("create", "if/a", SBError("busy"))
    await sched.commit({k("if/a"): Val(), k("route/r"): Val(deps=("if/a",))}, trigger="add")
    assert sched.status(k("route/r")).state is ValueState.PENDING
    async with retrying(sched):
        assert await sched.settle(60)
    assert sb.calls == [("create", "if/a"), ("create", "if/a"), ("create", "route/r")]
    assert sched.status(k("route/r")).state is ValueState.CONFIGURED


async def test_failed_delete_keeps_what_the_value_depends_on() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, retry=NO_RETRY)
    await sched.commit({k("if/a"): Val(), k("cfg/x"): Val(deps=("if/a",))}, trigger="setup")
    sb.fail("delete", "cfg/x", SBError("in use", retriable=False))
    record = await sched.commit({k("if/a"): None, k("cfg/x"): None}, trigger="remove both")
    assert set(sb.objects) == {"if/a", "cfg/x"}
    assert ("delete", "if/a") not in sb.calls
    blocked = sched.status(k("if/a"))
    assert blocked.state is ValueState.FAILED
    assert isinstance(blocked.error, ReconcileError)
    assert str(blocked.error) == "if/a: not deleted: cfg/x failed to go and still needs it"
    assert set(record.errors) == {"if/a", "cfg/x"}


async def test_blocked_delete_is_retried_once_its_dependent_is_gone() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val(), k("cfg/x"): Val(deps=("if/a",))}, trigger="setup")
    sb.fail("delete", "cfg/x", SBError("busy"))
    await sched.commit({k("if/a"): None, k("cfg/x"): None}, trigger="remove both")
    async with retrying(sched):
        assert await sched.settle(60)
    assert sb.objects == {}
    assert sb.calls[-2:] == [("delete", "cfg/x"), ("delete", "if/a")]


async def test_new_request_supersedes_a_scheduled_retry() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    sb.fail("create", "if/a", SBError("busy"))
    await sched.commit({k("if/a"): Val("1")}, trigger="first")
    assert sched.retry_due(k("if/a")) is not None
    await sched.commit({k("if/a"): Val("2")}, trigger="second")
    status = sched.status(k("if/a"))
    assert (status.state, status.attempts) == (ValueState.CONFIGURED, 0)
    assert sched.retry_due(k("if/a")) is None
    async with retrying(sched):
        assert await sched.settle(60)
    assert sb.ops_on("if/a") == ["create", "create"]


async def test_revert_on_failure_restores_the_previous_values() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val("1"), k("if/b"): Val("1")}, trigger="setup")
    sb.fail("update", "if/b", SBError("busy"))
    record = await sched.commit(
        {k("if/a"): Val("2"), k("if/b"): Val("2"), k("if/c"): Val("new")},
        trigger="all or nothing",
        revert_on_failure=True,
    )
    assert record.reverted
    assert list(record.errors) == ["if/b"]
    assert sb.objects == {"if/a": Val("1"), k("if/b"): Val("1")}
    assert dict(sched.nb_values()) == {"if/a": Val("1"), "if/b": Val("1")}
    assert {s.state for s in sched.statuses().values()} == {ValueState.CONFIGURED}
    assert sched.retry_due(k("if/b")) is None  # a reverted transaction is not retried
    undone = {(op.op.value, op.key) for op in record.executed if op.revert}
    assert undone == {("update", "if/a"), ("delete", "if/c")}


class NoUpdate(TestDescriptor):
    """Claims in-place updates but does not implement them (a descriptor bug)."""

    update = Descriptor.update  # type: ignore[assignment]


async def test_unimplemented_operation_is_a_final_failure() -> None:
    sb = Southbound()
    sched = Scheduler([NoUpdate(sb, "if", "if/")])
    await sched.commit({k("if/a"): Val("1")}, trigger="setup")
    await sched.commit({k("if/a"): Val("2")}, trigger="update")
    status = sched.status(k("if/a"))
    assert status.state is ValueState.FAILED
    assert isinstance(status.error, NotImplementedError)


async def test_raise_for_errors_reports_every_failed_key() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, retry=NO_RETRY)
    sb.fail("create", "if/a", SBError("a"))
    sb.fail("create", "if/b", SBError("b"))
    record = await sched.commit({k("if/a"): Val(), k("if/b"): Val(), k("if/c"): Val()}, trigger="t")
    with pytest.raises(TransactionError) as raised:
        record.raise_for_errors()
    assert raised.value.txn_seq == record.seq
    assert sorted(raised.value.failures) == ["if/a", "if/b"]


async def test_raise_for_errors_can_leave_scheduled_retries_out() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    sb.fail("create", "if/a", SBError("busy"))
    sb.fail("create", "if/b", SBError("gone", retriable=False))
    record = await sched.commit({k("if/a"): Val(), k("if/b"): Val()}, trigger="t")
    assert record.retrying == {"if/a"}
    with pytest.raises(TransactionError) as raised:
        record.raise_for_errors(ignore_retrying=True)
    assert list(raised.value.failures) == ["if/b"]
    sb.fail("create", "if/c", SBError("busy"))
    retry_only = await sched.commit({k("if/c"): Val()}, trigger="t")
    retry_only.raise_for_errors(ignore_retrying=True)  # nothing final: no exception


async def test_settle_times_out_when_nobody_runs_the_retries() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    sb.fail("create", "if/a", SBError("busy"))
    await sched.commit({k("if/a"): Val()}, trigger="add")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert not await sched.settle(5)
    assert loop.time() - started == pytest.approx(5)


async def test_register_rejects_unnamed_and_duplicate_descriptors() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    with pytest.raises(DescriptorError, match="already registered"):
        sched.register(TestDescriptor(sb, "if", "iface/"))
    with pytest.raises(DescriptorError, match="has no name"):
        sched.register(TestDescriptor(sb, "", "x/"))


async def test_update_that_drops_a_still_needed_property_waits() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, retry=NO_RETRY)
    await sched.commit(
        {k("if/a"): Val("1", derived=(("prop/a/up", True),)), k("cfg/x"): Val(deps=("prop/a/up",))},
        trigger="setup",
    )
    sb.fail("delete", "cfg/x", SBError("in use"))
    record = await sched.commit(
        {k("if/a"): Val("2"), k("cfg/x"): None}, trigger="drop the property"
    )
    assert sb.objects["if/a"] == Val("1", derived=(("prop/a/up", True),))  # not updated
    assert ("update", "if/a") not in sb.calls
    assert set(record.errors) == {"cfg/x", "prop/a/up", "if/a"}
    assert "it would drop prop/a/up" in str(record.errors["if/a"])


async def test_derived_values_of_a_new_value_wait_until_the_base_has_it() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb, retry=NO_RETRY)
    await sched.commit({k("cfg/x"): Val("1")}, trigger="setup")
    sb.fail("create", "if/n", SBError("busy"))
    new = Val("2", deps=("if/n",), derived=(("prop/x/p", True),))
    await sched.commit(
        {k("if/n"): Val(), k("cfg/x"): new, k("cfg/y"): Val(deps=("prop/x/p",))},
        trigger="cfg/x needs if/n now",
    )
    # if/n failed, so cfg/x keeps its old value; the property of the new value must not
    # appear, nor what depends on it.
    assert sb.calls == [("create", "cfg/x"), ("create", "if/n")]
    assert sched.status(k("prop/x/p")).state is ValueState.PENDING
    assert sched.status(k("cfg/y")).state is ValueState.PENDING


class SteppingClock:
    """An injected clock: sleeping just records the delay and moves time forward."""

    def __init__(self) -> None:
        self.time = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


async def test_retries_wait_on_the_injected_clock() -> None:
    sb = Southbound()
    clock = SteppingClock()
    sched, _ = scheduler(sb, clock=clock, retry=RetryPolicy(initial_delay=1.0, max_attempts=3))
    sb.fail("create", "if/a", SBError("busy"), SBError("busy"))
    await sched.commit({k("if/a"): Val()}, trigger="add")
    assert sched.retry_due(k("if/a")) == 101.0
    async with retrying(sched):
        # settle() would sleep on this clock too and race run(): this clock jumps on every
        # sleep, where a real virtual clock wakes sleepers in deadline order. Just let run() go.
        for _ in range(100):
            if sched.status(k("if/a")).state is ValueState.CONFIGURED:
                break
            await asyncio.sleep(0)
    assert clock.slept == [1.0, 2.0]
    assert sched.status(k("if/a")).state is ValueState.CONFIGURED
    assert [r.started for r in sched.history] == [100.0, 101.0, 103.0]
