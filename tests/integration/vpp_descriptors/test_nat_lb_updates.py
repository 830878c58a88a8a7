"""LB mapping updates against the simulator (issue 10 items 5 and 6b): backends change in place
at one VPP call per backend, the static <-> LB transitions cost two calls, and an update that
failed halfway is finished by its retry instead of failing on what the first attempt did."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from vppdesc_helpers import SimHandle, commit_ok, keyed

from contivpp.errors import VPPTimeoutError
from contivpp.model import keys
from contivpp.model.nat import (
    Nat44Global,
    Nat44LbLocal,
    Nat44LbStaticMapping,
    Nat44StaticMapping,
)
from contivpp.reconcile import AnyDescriptor, Key, RetryPolicy, Scheduler, ValueState
from contivpp.vpp.client import VPPClient

LB_KEY = keys.nat44_lb_static_mapping("10.96.0.10", "tcp", 80)
STATIC_KEY = keys.nat44_static_mapping("10.96.0.10", "tcp", 80)
A, B, C, D = (Nat44LbLocal(f"10.1.1.{n}", 8080) for n in (2, 3, 4, 5))


def lb(*backends: Nat44LbLocal) -> Nat44LbStaticMapping:
    return Nat44LbStaticMapping("10.96.0.10", 80, "tcp", backends, label="default/web")


def static(backend: Nat44LbLocal) -> Nat44StaticMapping:
    return Nat44StaticMapping(
        local_ip=backend.ip,
        external_ip="10.96.0.10",
        protocol="tcp",
        local_port=backend.port,
        external_port=80,
        label="default/web",
    )


def backends_in_vpp(sim: SimHandle) -> set[tuple[str, int]]:
    (mapping,) = sim.state()["nat"]["lb_mappings"]
    return {(x["addr"], x["port"]) for x in mapping["locals"]}


def backends(*locals_: Nat44LbLocal) -> set[tuple[str, int]]:
    return {(x.ip, x.port) for x in locals_}


class CallLog:
    """The messages the descriptors send (``client.call``), to count VPP calls per commit."""

    def __init__(self, vpp: VPPClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real_call = vpp.call

        async def call(name: str, /, **fields: Any) -> Any:
            self.names.append(name)
            return await real_call(name, **fields)

        monkeypatch.setattr(vpp, "call", call)

    async def commit(self, sched: Scheduler, delta: dict[Key, object | None]) -> list[str]:
        self.names.clear()
        await commit_ok(sched, delta)
        return list(self.names)


async def test_one_endpoint_costs_one_call_and_the_lb_transitions_two(
    sim: SimHandle,
    vpp: VPPClient,
    descriptors: list[AnyDescriptor],
    sched: Scheduler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = CallLog(vpp, monkeypatch)
    await commit_ok(sched, keyed(descriptors, Nat44Global(forwarding=True)))
    # 1 backend: a static mapping (VPP refuses an LB mapping with fewer than two).
    assert await log.commit(sched, {STATIC_KEY: static(A)}) == ["nat44_add_del_static_mapping_v2"]
    # 1 -> 2: the static mapping goes, then the LB mapping comes (same external address/port).
    assert await log.commit(sched, {STATIC_KEY: None, LB_KEY: lb(A, B)}) == [
        "nat44_add_del_static_mapping_v2",
        "nat44_add_del_lb_static_mapping",
    ]
    assert sim.state()["nat"]["static_mappings"] == [] and backends_in_vpp(sim) == backends(A, B)
    # 2 -> 3 and 3 -> 2: one nat44_lb_static_mapping_add_del_local each.
    local = "nat44_lb_static_mapping_add_del_local"
    assert await log.commit(sched, {LB_KEY: lb(A, B, C)}) == [local]
    assert backends_in_vpp(sim) == backends(A, B, C)
    assert await log.commit(sched, {LB_KEY: lb(A, C)}) == [local]
    assert backends_in_vpp(sim) == backends(A, C)
    # One endpoint replaced by another (a pod re-created): add, then remove.
    assert await log.commit(sched, {LB_KEY: lb(A, D)}) == [local, local]
    assert backends_in_vpp(sim) == backends(A, D)
    # 2 -> 1: back to a static mapping.
    assert await log.commit(sched, {LB_KEY: None, STATIC_KEY: static(D)}) == [
        "nat44_add_del_lb_static_mapping",
        "nat44_add_del_static_mapping_v2",
    ]
    assert sim.state()["nat"]["lb_mappings"] == []
    assert [m["local"] for m in sim.state()["nat"]["static_mappings"]] == [D.ip]


async def test_retry_finishes_an_update_that_failed_halfway(
    sim: SimHandle,
    vpp: VPPClient,
    descriptors: list[AnyDescriptor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sched = Scheduler(descriptors, retry=RetryPolicy(initial_delay=0.01, max_attempts=3))
    await commit_ok(sched, keyed(descriptors, Nat44Global(forwarding=True)))
    await commit_ok(sched, {LB_KEY: lb(A, B)})
    real_call = vpp.call
    failures = [VPPTimeoutError("no reply")]

    async def call(name: str, /, **fields: Any) -> Any:
        # The first removal fails after both additions went through: VPP has A, B, C, D.
        if name == "nat44_lb_static_mapping_add_del_local" and not fields["is_add"] and failures:
            raise failures.pop()
        return await real_call(name, **fields)

    monkeypatch.setattr(vpp, "call", call)
    runner = asyncio.create_task(sched.run(), name="retries")
    try:
        record = await sched.commit({LB_KEY: lb(C, D)}, trigger="backends replaced")
        assert LB_KEY in record.errors
        assert backends_in_vpp(sim) == backends(A, B, C, D)
        assert await sched.settle(5)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    status = sched.status(LB_KEY)
    assert status.state is ValueState.CONFIGURED, status.error
    assert backends_in_vpp(sim) == backends(C, D)


async def test_backends_already_added_or_already_gone_count_as_done(
    sim: SimHandle, vpp: VPPClient, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    await commit_ok(sched, keyed(descriptors, Nat44Global(forwarding=True)))
    await commit_ok(sched, {LB_KEY: lb(A, B, C)})
    # Behind the scheduler's back (what a lost reply leaves): D is in, C is out.
    where = {"external_addr": "10.96.0.10", "external_port": 80, "protocol": 6}
    for backend, is_add in ((D, True), (C, False)):
        local = {"addr": backend.ip, "port": backend.port, "probability": 1, "vrf_id": 0}
        await vpp.call("nat44_lb_static_mapping_add_del_local", is_add=is_add, local=local, **where)
    record = await sched.commit({LB_KEY: lb(A, B, D)}, trigger="C replaced by D")
    assert record.ok, dict(record.errors)
    assert sched.status(LB_KEY).state is ValueState.CONFIGURED
    assert backends_in_vpp(sim) == backends(A, B, D)
