"""Resync: read the southbound back, then converge; verification of what a transaction did."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import structlog
from reconcile_fakes import Southbound, TestDescriptor, Val, k, scheduler

from contivpp.errors import ReconcileError
from contivpp.reconcile import (
    Correlated,
    DriftKind,
    Key,
    Origin,
    ResyncKind,
    Retrieved,
    Scheduler,
    TxnKind,
    ValueState,
)

DESIRED = {
    k("if/a"): Val("a", derived=(("addr/a/1", Val("10.0.0.1")),)),
    k("if/b"): Val("b"),
    k("route/r"): Val("r", deps=("if/a",)),
    k("cfg/c"): Val("c", deps=("if/b",)),
}


async def configured(sb: Southbound) -> Scheduler:
    sched, _ = scheduler(sb)
    await sched.commit(DESIRED, trigger="setup")
    sb.calls.clear()
    sb.retrieves.clear()
    return sched


async def test_full_resync_without_drift_issues_no_writes() -> None:
    sb = Southbound()
    sched = await configured(sb)
    record = await sched.resync(ResyncKind.FULL, trigger="periodic")
    assert (record.kind, record.calls, sb.calls) == (TxnKind.FULL_RESYNC, 0, [])
    assert [name for name, _ in sb.retrieves] == ["if", "route"]  # retrieve_after order
    assert {s.state for s in sched.statuses().values()} == {ValueState.CONFIGURED}


async def test_full_resync_creates_missing_fixes_different_and_deletes_unwanted() -> None:
    sb = Southbound()
    sched = await configured(sb)
    del sb.objects["if/b"]
    sb.objects["route/r"] = Val("changed", deps=("if/a",))
    sb.put("if/stray", Val("leftover"))
    sb.put("if/local0", Val("vpp's own"), origin=Origin.SB)

    record = await sched.resync(ResyncKind.FULL, trigger="healing")
    assert {key: sb.objects[key] for key in DESIRED} == DESIRED
    assert set(sb.objects) == set(DESIRED) | {"addr/a/1", "if/local0"}
    assert sorted(sb.calls) == sorted(
        [
            ("create", "if/b"),
            ("delete", "route/r"),
            ("create", "route/r"),
            ("delete", "if/stray"),
        ]
    )
    assert sb.index("delete", "route/r") < sb.index("create", "route/r")
    assert record.ok
    local0 = sched.status(k("if/local0"))
    assert (local0.state, local0.origin) == (ValueState.OBTAINED, Origin.SB)


async def test_values_owned_by_the_southbound_are_kept_and_can_be_depended_on() -> None:
    sb = Southbound()
    sb.put("if/local0", Val("vpp's own"), origin=Origin.SB)
    sched, _ = scheduler(sb)
    await sched.resync(
        ResyncKind.FULL, desired={k("route/r"): Val(deps=("if/local0",))}, trigger="start"
    )
    await sched.commit({k("if/local0"): None}, trigger="not ours to delete")
    await sched.commit_full({}, trigger="empty desired set")
    assert sb.calls == [("create", "route/r"), ("delete", "route/r")]
    assert "if/local0" in sb.objects


async def test_full_resync_with_a_desired_set_replaces_the_previous_one() -> None:
    sb = Southbound()
    sched = await configured(sb)
    await sched.resync(ResyncKind.FULL, desired={k("if/b"): Val("b")}, trigger="startup")
    assert sb.objects == {"if/b": Val("b")}
    assert dict(sched.nb_values()) == {"if/b": Val("b")}


async def test_downstream_resync_recreates_everything_after_a_southbound_restart() -> None:
    sb = Southbound()
    sched = await configured(sb)
    sb.wipe()
    record = await sched.resync(ResyncKind.DOWNSTREAM, trigger="vpp restarted")
    assert record.kind is TxnKind.DOWNSTREAM_RESYNC
    assert set(sb.objects) == set(DESIRED) | {"addr/a/1"}
    assert sb.violations == []
    # cfg/ cannot be retrieved: a downstream resync assumes it is gone with the restart
    assert ("create", "cfg/c") in sb.calls


async def test_full_resync_trusts_descriptors_that_cannot_retrieve() -> None:
    sb = Southbound()
    sched = await configured(sb)
    del sb.objects["cfg/c"]
    await sched.resync(ResyncKind.FULL, trigger="cannot see cfg/")
    assert sb.calls == []
    assert sched.status(k("cfg/c")).state is ValueState.CONFIGURED


async def test_downstream_resync_takes_no_desired_set() -> None:
    sched, _ = scheduler(Southbound())
    with pytest.raises(ReconcileError, match="downstream"):
        await sched.resync(ResyncKind.DOWNSTREAM, desired={}, trigger="wrong")


async def test_resync_correlates_with_desired_values_and_refreshes_metadata() -> None:
    sb = Southbound()
    sched, kinds = scheduler(sb)
    await sched.commit({k("if/a"): Val("a")}, trigger="setup")
    sb.metadata["if/a"] = 4242  # e.g. a new sw_if_index after VPP restarted
    await sched.resync(ResyncKind.FULL, trigger="resync")
    correlate = dict(sb.retrieves)["if"]
    assert correlate == (Correlated(key=k("if/a"), value=Val("a"), metadata=1),)
    await sched.commit({k("if/a"): None}, trigger="remove")
    assert kinds["if"].deletes == [("if/a", Val("a"), 4242)]


class FailingRetrieve(TestDescriptor):
    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        raise ConnectionError("dump failed")


async def test_failing_retrieve_is_reported_and_its_values_left_alone() -> None:
    sb = Southbound()
    sched = Scheduler([FailingRetrieve(sb, "if", "if/")])
    await sched.commit({k("if/a"): Val()}, trigger="setup")
    del sb.objects["if/a"]
    record = await sched.resync(ResyncKind.FULL, trigger="resync")
    assert isinstance(record.retrieve_errors["if"], ConnectionError)
    assert sb.calls == [("create", "if/a")]
    assert sched.status(k("if/a")).state is ValueState.CONFIGURED


async def test_resync_breaks_a_dependency_cycle_found_in_the_southbound() -> None:
    sb = Southbound()
    sb.put("if/x", Val(deps=("if/y",)))
    sb.put("if/y", Val(deps=("if/x",)))
    sched, _ = scheduler(sb)
    record = await sched.resync(ResyncKind.FULL, desired={}, trigger="startup")
    assert sb.objects == {}
    assert sb.calls == [("delete", "if/x"), ("delete", "if/y")]
    assert record.ok


class Liar(TestDescriptor):
    """Acknowledges creates but stores something else (or nothing): drift right away."""

    async def create(self, key: Key, value: Val) -> int:
        index = await super().create(key, value)
        if value.payload == "vanish":
            del self.sb.objects[key]
        else:
            self.sb.objects[key] = Val("something else")
        return index


async def test_verification_reports_drift_after_a_transaction() -> None:
    sb = Southbound()
    sched = Scheduler([Liar(sb, "if", "if/")], verify=True)
    record = await sched.commit({k("if/a"): Val("a"), k("if/b"): Val("vanish")}, trigger="t")
    drift = {(d.key, d.kind) for d in record.drift}
    assert drift == {("if/a", DriftKind.DIFFERS), ("if/b", DriftKind.MISSING)}

    honest, _ = scheduler(Southbound(), verify=True)
    clean = await honest.commit(DESIRED, trigger="t")
    assert clean.drift == ()


async def test_support_from_its_own_derived_value_does_not_count() -> None:
    sb = Southbound()
    # Read back: an interface whose any-of dependency only its own address satisfies.
    sb.put("if/x", Val(any_of=("addr/",), derived=(("addr/x/1", Val()),)))
    sb.put("addr/x/1", Val())
    sched, _ = scheduler(sb)
    with structlog.testing.capture_logs() as logs:
        await sched.resync(ResyncKind.FULL, desired={}, trigger="startup")
    assert sb.calls == [("delete", "addr/x/1"), ("delete", "if/x")]
    assert [line["event"] for line in logs] == ["reconcile_txn"]  # no cycle to break


async def test_a_first_resync_hands_the_requested_values_to_retrieve() -> None:
    # A restarted agent has an empty graph: descriptors that look up only what they are told
    # about (Linux routes inside pod namespaces) must still learn what is about to be asked.
    sb = Southbound()
    sb.objects["if/a"] = Val("a")
    sb.metadata["if/a"] = 7
    sched, _ = scheduler(sb)
    record = await sched.resync(ResyncKind.FULL, desired={k("if/a"): Val("a")}, trigger="start")
    correlate = dict(sb.retrieves)["if"]
    assert correlate == (Correlated(key=k("if/a"), value=Val("a"), metadata=None),)
    assert record.calls == 0
