"""Performance design: concurrent waves, deterministic order, serialization, local work."""

from __future__ import annotations

import asyncio

from reconcile_fakes import Southbound, TestDescriptor, Val, k, scheduler

from contivpp.reconcile import Key, Scheduler


async def test_independent_operations_run_concurrently_up_to_the_limit() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb, max_in_flight=8)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sched.commit({k(f"if/{n:03}"): Val() for n in range(100)}, trigger="bulk")
    assert sb.peak_in_flight == 8
    assert loop.time() - started < 0.02  # 13 round trips of 1 ms, not 100


async def test_one_request_in_flight_when_the_limit_is_one() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb, max_in_flight=1)
    await sched.commit({k(f"if/{n}"): Val() for n in range(10)}, trigger="bulk")
    assert sb.peak_in_flight == 1


async def test_requests_leave_in_sorted_key_order() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb, max_in_flight=4)
    keys = [f"if/{n}" for n in (7, 3, 9, 1, 5, 8, 2, 6, 4, 0)]
    await sched.commit({k(key): Val() for key in keys}, trigger="unsorted input")
    assert [key for _, key in sb.calls] == sorted(keys)


async def test_dependency_order_holds_with_many_requests_in_flight() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb, max_in_flight=64)
    desired = {}
    for n in range(20):
        desired[k(f"if/{n}")] = Val()
        desired[k(f"route/{n}")] = Val(deps=(f"if/{n}",))
        desired[k(f"cfg/{n}")] = Val(deps=(f"route/{n}", f"if/{(n + 1) % 20}"))
    await sched.commit(desired, trigger="fan-out")
    assert len(sb.objects) == 60
    assert sb.violations == []
    assert sb.peak_in_flight == 20
    await sched.commit({key: None for key in desired}, trigger="tear down")
    for n in range(20):
        assert sb.index("delete", f"cfg/{n}") < sb.index("delete", f"route/{n}")
        assert sb.index("delete", f"route/{n}") < sb.index("delete", f"if/{n}")


async def test_transactions_are_serialized() -> None:
    sb = Southbound(latency=0.001)
    sched, _ = scheduler(sb)
    first = {k(f"if/a{n}"): Val() for n in range(5)}
    second = {k(f"if/b{n}"): Val(deps=("if/a0",)) for n in range(5)}
    records = await asyncio.gather(
        sched.commit(first, trigger="first"), sched.commit(second, trigger="second")
    )
    assert [r.seq for r in records] == [1, 2]
    assert [key for _, key in sb.calls] == sorted(first) + sorted(second)
    assert all(not r.errors for r in records)


async def populated(size: int) -> tuple[Scheduler, list[TestDescriptor]]:
    """``size`` interfaces, each with a property and a route depending on both."""
    sb = Southbound()
    kinds = [
        TestDescriptor(sb, "if", "if/"),
        TestDescriptor(sb, "route", "route/", supports_update=False),
    ]
    sched = Scheduler(kinds)
    desired: dict[Key, object] = {}
    for n in range(size):
        desired[k(f"if/{n}")] = Val(derived=((f"prop/{n}/up", True),))
        desired[k(f"route/{n}")] = Val(deps=(f"if/{n}", f"prop/{n}/up"))
    await sched.commit(desired, trigger="populate")
    for kind in kinds:
        kind.pure_calls = 0
    return sched, kinds


async def test_work_is_proportional_to_the_change_not_to_the_graph() -> None:
    counts = []
    for size in (10, 1000):
        sched, kinds = await populated(size)
        await sched.commit(
            {k("if/new"): Val(), k("route/new"): Val(deps=("if/new",))}, trigger="add"
        )
        await sched.commit(
            {k("if/3"): Val("changed", derived=(("prop/3/up", True),))}, trigger="change"
        )
        await sched.commit({k("if/5"): None}, trigger="cascade")
        counts.append(sum(kind.pure_calls for kind in kinds))
    # validate / dependencies / derived_values / equivalent calls: same for 20 or 2000 values
    assert counts[0] == counts[1]
    assert 0 < counts[0] < 40
