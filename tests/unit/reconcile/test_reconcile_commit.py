"""Transactions: ordering by dependencies, cascades, updates, derived values, no-op commits."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from reconcile_fakes import Southbound, TestDescriptor, Val, k, retrying, scheduler

from contivpp.errors import DescriptorError, InvalidValueError
from contivpp.reconcile import Dependency, Key, Operation, Scheduler, ValueState


async def test_value_without_dependencies_is_created_and_configured() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    record = await sched.commit({k("if/a"): Val("a")}, trigger="add a")
    assert sb.objects == {"if/a": Val("a")}
    assert sched.status(k("if/a")).state is ValueState.CONFIGURED
    assert (record.ok, record.calls) == (True, 1)


async def test_value_waits_pending_until_its_dependency_appears() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("route/r"): Val("r", deps=("if/a",))}, trigger="route first")
    status = sched.status(k("route/r"))
    assert sb.calls == []
    assert (status.state, status.missing) == (ValueState.PENDING, ("dep if/a",))

    await sched.commit({k("if/a"): Val("a")}, trigger="then the interface")
    assert sb.calls == [("create", "if/a"), ("create", "route/r")]
    assert sched.status(k("route/r")).state is ValueState.CONFIGURED


async def test_a_chain_is_created_in_dependency_order_within_one_transaction() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    record = await sched.commit(
        {
            k("cfg/3"): Val(deps=("route/2",)),
            k("route/2"): Val(deps=("if/1",)),
            k("if/1"): Val(deps=("cfg/0",)),
            k("cfg/0"): Val(),
        },
        trigger="chain",
    )
    assert [key for _, key in sb.calls] == ["cfg/0", "if/1", "route/2", "cfg/3"]
    assert [op.wave for op in record.executed] == [1, 2, 3, 4]
    assert sb.violations == []


async def test_delete_removes_derived_values_and_dependents_first() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    interface = Val("a", derived=(("addr/a/1", Val("10.0.0.1")), ("prop/a/up", True)))
    await sched.commit(
        {
            k("if/a"): interface,
            k("route/r"): Val(deps=("if/a",)),
            k("cfg/x"): Val(deps=("prop/a/up",)),
        },
        trigger="setup",
    )
    sb.calls.clear()
    record = await sched.commit({k("if/a"): None}, trigger="remove interface")

    assert sb.index("delete", "if/a") == len(sb.calls) - 1
    assert set(sb.calls[:-1]) == {
        ("delete", "addr/a/1"),
        ("delete", "route/r"),
        ("delete", "cfg/x"),
    }
    assert sb.objects == {}
    assert sched.status(k("route/r")).missing == ("dep if/a",)
    assert sched.status(k("cfg/x")).missing == ("dep prop/a/up",)
    assert sched.status(k("if/a")).state is ValueState.NONEXISTENT
    assert sched.status(k("addr/a/1")).state is ValueState.NONEXISTENT
    removed = {op.key: op.new_state for op in record.executed}
    assert removed[k("if/a")] is ValueState.REMOVED
    assert removed[k("route/r")] is ValueState.PENDING

    await sched.commit({k("if/a"): interface}, trigger="interface is back")
    assert set(sb.objects) == {"if/a", "addr/a/1", "route/r", "cfg/x"}
    assert sb.violations == []


async def test_update_in_place_gets_old_value_and_metadata_and_keeps_dependents() -> None:
    sb = Southbound()
    sched, kinds = scheduler(sb)
    await sched.commit({k("if/a"): Val("1"), k("route/r"): Val(deps=("if/a",))}, trigger="setup")
    index = sb.metadata["if/a"]
    sb.calls.clear()

    await sched.commit({k("if/a"): Val("2")}, trigger="change")
    assert sb.calls == [("update", "if/a")]
    assert kinds["if"].updates == [("if/a", Val("1"), Val("2"), index)]
    assert sb.objects["if/a"] == Val("2")


async def test_update_needing_recreate_deletes_and_recreates_dependents_around_it() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {
            k("if/a"): Val(),
            k("route/r"): Val("1", deps=("if/a",)),
            k("cfg/x"): Val(deps=("route/r",)),
        },
        trigger="setup",
    )
    sb.calls.clear()
    record = await sched.commit({k("route/r"): Val("2", deps=("if/a",))}, trigger="change route")
    assert sb.calls == [
        ("delete", "cfg/x"),
        ("delete", "route/r"),
        ("create", "route/r"),
        ("create", "cfg/x"),
    ]
    assert all(op.recreate for op in record.executed)
    assert sb.objects["route/r"] == Val("2", deps=("if/a",))


class RecreateOnRename(TestDescriptor):
    """Updates in place, except that a new payload starting with '!' needs a recreate."""

    def update_with_recreate(self, key: Key, old: Val, new: Val, metadata: int | None) -> bool:
        return new.payload.startswith("!")


async def test_update_with_recreate_hook_is_honoured() -> None:
    sb = Southbound()
    sched = Scheduler([RecreateOnRename(sb, "if", "if/")])
    await sched.commit({k("if/a"): Val("1")}, trigger="setup")
    await sched.commit({k("if/a"): Val("2")}, trigger="in place")
    await sched.commit({k("if/a"): Val("!3")}, trigger="recreate")
    assert sb.ops_on("if/a") == ["create", "update", "delete", "create"]


async def test_in_place_update_whose_new_dependency_is_missing_removes_the_old_value() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("cfg/x"): Val("1")}, trigger="setup")
    await sched.commit({k("cfg/x"): Val("2", deps=("if/z",))}, trigger="needs if/z now")
    assert "cfg/x" not in sb.objects
    assert sched.status(k("cfg/x")).missing == ("dep if/z",)

    await sched.commit({k("if/z"): Val()}, trigger="if/z arrives")
    assert sb.objects["cfg/x"] == Val("2", deps=("if/z",))
    assert sb.ops_on("cfg/x") == ["create", "delete", "create"]


async def test_any_of_dependency_is_satisfied_by_any_key_of_the_prefix() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("cfg/x"): Val(any_of=("if/",))}, trigger="needs any interface")
    assert sched.status(k("cfg/x")).missing == ("any",)

    await sched.commit({k("if/b"): Val(), k("if/c"): Val()}, trigger="two interfaces")
    assert sched.status(k("cfg/x")).state is ValueState.CONFIGURED

    await sched.commit({k("if/b"): None}, trigger="one goes")
    assert sb.ops_on("cfg/x") == ["create"]  # still satisfied by if/c: untouched

    await sched.commit({k("if/c"): None}, trigger="the last goes")
    assert sb.index("delete", "cfg/x") < sb.index("delete", "if/c")
    assert sched.status(k("cfg/x")).state is ValueState.PENDING


async def test_selector_dependency_waits_for_a_matching_key() -> None:
    sb = Southbound()
    cfg = TestDescriptor(sb, "cfg", "cfg/", selector=lambda key: key.endswith("/uplink"))
    sched = Scheduler([cfg, TestDescriptor(sb, "if", "if/")])
    await sched.commit({k("cfg/x"): Val("sel"), k("if/eth0"): Val()}, trigger="no uplink yet")
    assert sched.status(k("cfg/x")).missing == ("selected",)

    await sched.commit({k("if/eth1/uplink"): Val()}, trigger="uplink")
    assert sb.calls[-2:] == [("create", "if/eth1/uplink"), ("create", "cfg/x")]


async def test_dependency_cycles_and_self_dependencies_stay_pending() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {
            k("cfg/x"): Val(deps=("cfg/y",)),
            k("cfg/y"): Val(deps=("cfg/x",)),
            k("cfg/self"): Val(any_of=("cfg/self",)),
        },
        trigger="cycles",
    )
    assert sb.calls == []
    assert {s.state for s in sched.statuses().values()} == {ValueState.PENDING}


async def test_invalid_value_is_not_applied_and_replaces_the_old_one() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val("ok")}, trigger="valid")
    record = await sched.commit({k("if/a"): Val("bad", invalid=True)}, trigger="invalid")
    status = sched.status(k("if/a"))
    assert status.state is ValueState.INVALID
    assert isinstance(status.error, InvalidValueError)
    assert status.error.fields == ("invalid",)
    assert sb.calls == [("create", "if/a"), ("delete", "if/a")]
    assert sched.retry_due(k("if/a")) is None
    assert record.ok  # rejected by validation, not a failed operation


async def test_value_without_descriptor_waits_until_one_is_registered() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("other/x"): Val()}, trigger="nobody handles other/")
    assert sched.status(k("other/x")).state is ValueState.UNIMPLEMENTED

    sched.register(TestDescriptor(sb, "other", "other/"))
    assert sched.retry_due(k("other/x")) is not None
    async with retrying(sched):
        assert await sched.settle(10)
    assert sb.calls == [("create", "other/x")]
    assert sched.status(k("other/x")).state is ValueState.CONFIGURED


async def test_property_satisfies_dependents_without_southbound_calls() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {k("if/a"): Val(derived=(("prop/a/vrf", 5),)), k("cfg/x"): Val(deps=("prop/a/vrf",))},
        trigger="property",
    )
    assert sb.calls == [("create", "if/a"), ("create", "cfg/x")]
    prop = sched.status(k("prop/a/vrf"))
    assert (prop.state, prop.derived_from, prop.value) == (ValueState.CONFIGURED, "if/a", 5)


async def test_changed_derived_values_replace_obsolete_ones_after_the_base() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val(derived=(("addr/a/1", Val("1")),))}, trigger="one")
    sb.calls.clear()
    await sched.commit({k("if/a"): Val(derived=(("addr/a/2", Val("2")),))}, trigger="other")
    assert sb.calls == [("delete", "addr/a/1"), ("update", "if/a"), ("create", "addr/a/2")]


async def test_derived_keys_cannot_be_requested_or_shared() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit({k("if/a"): Val(derived=(("addr/a/1", Val()),))}, trigger="setup")
    with pytest.raises(DescriptorError, match="derived from if/a"):
        await sched.commit({k("addr/a/1"): Val()}, trigger="direct")

    await sched.commit({k("if/b"): Val(derived=(("addr/a/1", Val()),))}, trigger="collide")
    status = sched.status(k("if/b"))
    assert status.state is ValueState.INVALID
    assert isinstance(status.error, DescriptorError)
    assert sb.ops_on("if/b") == []


class BrokenDependencies(TestDescriptor):
    def dependencies(self, key: Key, value: Val) -> Sequence[Dependency]:
        raise KeyError("bug")


async def test_descriptor_bug_in_a_pure_method_makes_the_value_invalid() -> None:
    sb = Southbound()
    sched = Scheduler([BrokenDependencies(sb, "if", "if/")])
    await sched.commit({k("if/a"): Val()}, trigger="bug")
    status = sched.status(k("if/a"))
    assert status.state is ValueState.INVALID
    assert isinstance(status.error, DescriptorError)
    assert isinstance(status.error.__cause__, KeyError)


async def test_transaction_with_nothing_to_change_issues_no_call() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    desired = {
        k("if/a"): Val(derived=(("addr/a/1", Val()),)),
        k("route/r"): Val(deps=("if/a",)),
        k("cfg/p"): Val(deps=("if/missing",)),
    }
    await sched.commit(desired, trigger="setup")
    before = list(sb.calls)
    records = [
        await sched.commit(desired, trigger="same delta"),
        await sched.commit_full(desired, trigger="same set"),
        await sched.commit({}, trigger="empty"),
        await sched.commit({k("if/unknown"): None}, trigger="delete what does not exist"),
    ]
    assert sb.calls == before
    assert [(r.calls, r.executed) for r in records] == [(0, ())] * 4


async def test_commit_full_deletes_what_is_not_in_the_set() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    await sched.commit(
        {k("if/a"): Val(), k("if/b"): Val(), k("route/r"): Val(deps=("if/b",))}, trigger="setup"
    )
    await sched.commit_full({k("if/a"): Val("new")}, trigger="replace")
    assert sb.objects == {"if/a": Val("new")}
    assert dict(sched.nb_values()) == {"if/a": Val("new")}
    assert [op.op for op in sched.history[-1].executed] == [
        Operation.DELETE,
        Operation.DELETE,
        Operation.UPDATE,
    ]


async def test_a_value_is_not_supported_by_what_it_derives() -> None:
    sb = Southbound()
    sched, _ = scheduler(sb)
    selfish = Val(any_of=("prop/",), derived=(("prop/x/flag", True),))
    await sched.commit(
        {k("if/y"): Val(derived=(("prop/y/up", True),)), k("cfg/x"): selfish}, trigger="t"
    )
    assert sched.status(k("cfg/x")).state is ValueState.CONFIGURED

    await sched.commit({k("if/y"): None}, trigger="its only real support goes")
    assert sb.objects == {}
    assert sched.status(k("cfg/x")).missing == ("any",)
    assert sched.status(k("prop/x/flag")).state is ValueState.PENDING
