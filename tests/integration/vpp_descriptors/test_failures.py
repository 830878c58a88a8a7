"""How the VPP descriptors fail: invalid values never reach VPP, VPP errors are retried only
when VPP's retval says the state can still change, and a failed create leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest
from vppdesc_helpers import SimHandle, commit_ok, keyed

from contivpp.errors import InvalidValueError, VPPApiError, VPPError, VPPUsageError
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclRule
from contivpp.model.nat import Nat44Global, Nat44Interface, Nat44LbLocal, Nat44LbStaticMapping
from contivpp.model.vpp import (
    BridgeDomain,
    BridgeDomainMember,
    Interface,
    L2FibEntry,
    Route,
    TapLink,
    VrfTable,
    VxlanLink,
)
from contivpp.reconcile import AnyDescriptor, Key, RetryPolicy, Scheduler, ValueState
from contivpp.vpp.client import VPPClient

INVALID: list[tuple[str, object, str]] = [
    (
        "non-canonical address",
        Interface("a", "loopback", ip_addresses=("10.1.1.01/24",)),
        "ip_addresses",
    ),
    ("upper-case MAC", Interface("a", "loopback", mac="02:FE:00:00:00:01"), "mac"),
    ("tap without link", Interface("a", "tap"), "tap"),
    ("tag too long", Interface("x" * 64, "loopback"), "name"),
    (
        "same vxlan ends",
        Interface("v", "vxlan", vxlan=VxlanLink("1.1.1.1", "1.1.1.1", 10)),
        "vxlan.dst",
    ),
    ("host bits in route", Route(vrf=0, dst="10.1.1.1/24", out_interface="a"), "dst"),
    ("route to nowhere", Route(vrf=0, dst="10.1.0.0/24"), "next_hop"),
    ("drop with next hop", Route(vrf=0, dst="10.1.0.0/24", next_hop="1.1.1.1", drop=True), "drop"),
    (
        "two BVIs",
        BridgeDomain(
            "bd", 1, members=(BridgeDomainMember("a", True), BridgeDomainMember("b", True))
        ),
        "members",
    ),
    ("l2fib MAC", L2FibEntry("bd", 1, "12:2B:00:00:00:02", "a"), "mac"),
    ("output and inside", Nat44Interface("a", inside=True, output=True), "output"),
    (
        "one LB backend",
        Nat44LbStaticMapping("10.96.0.1", 80, "tcp", (Nat44LbLocal("10.1.1.2", 80),)),
        "locals",
    ),
    ("ACL mixes families", Acl("p", (AclRule("permit", "10.0.0.0/8", "::/0"),)), "rules"),
    ("ACL twice", AclInterface("a", ingress=("p", "p")), "ingress"),
]


@pytest.mark.parametrize(("value", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
async def test_invalid_values_never_reach_vpp(
    sim: SimHandle, descriptors: list[AnyDescriptor], sched: Scheduler, value: object, field: str
) -> None:
    before = sim.state()
    ((key, _),) = keyed(descriptors, value).items()
    record = await sched.commit({key: value}, trigger="test")
    status = sched.status(key)
    assert status.state is ValueState.INVALID
    assert isinstance(status.error, InvalidValueError) and field in status.error.fields
    assert record.calls == 0 and sim.state() == before


async def test_wrong_key_for_a_value_is_invalid(sched: Scheduler) -> None:
    key = keys.interface("other-name")
    await sched.commit({key: Interface("a", "loopback")}, trigger="test")
    status = sched.status(key)
    assert status.state is ValueState.INVALID
    assert "vpp/interface/a" in str(status.error)


def test_only_vpp_errors_that_may_heal_are_retriable(descriptors: list[AnyDescriptor]) -> None:
    for descriptor in descriptors:
        assert descriptor.is_retriable(VPPApiError("x", -105, "ADDRESS_IN_USE", retriable=True))
        assert descriptor.is_retriable(VPPError("interface 'a' does not exist in VPP"))
        assert not descriptor.is_retriable(VPPApiError("x", -126, "UNSUPPORTED"))
        assert not descriptor.is_retriable(VPPUsageError("unknown field"))
        assert not descriptor.is_retriable(ValueError("a bug"))


async def test_conflict_is_retried_until_it_clears(
    sim: SimHandle, vpp: VPPClient, descriptors: list[AnyDescriptor]
) -> None:
    sched = Scheduler(descriptors, retry=RetryPolicy(initial_delay=0.02, max_attempts=None))
    runner = asyncio.create_task(sched.run(), name="retries")
    try:
        # The same address on another (foreign, untagged) loopback: VPP says ADDRESS_IN_USE.
        foreign = (await vpp.call("create_loopback")).sw_if_index
        await vpp.call(
            "sw_interface_add_del_address", sw_if_index=foreign, is_add=True, prefix="10.5.0.1/24"
        )
        values = keyed(descriptors, Interface("a", "loopback", ip_addresses=("10.5.0.1/24",)))
        record = await sched.commit(values, trigger="test")
        address = keys.address("a", "10.5.0.1/24")
        assert record.errors[address].retval == -105  # type: ignore[attr-defined]
        assert sched.status(address).state is ValueState.RETRYING
        await vpp.call("delete_loopback", sw_if_index=foreign)
        assert await sched.settle(5)
        assert sched.status(address).state is ValueState.CONFIGURED
        assert sim.state()["ip"]["addresses"] == {str(vpp.interfaces.require("a")): ["10.5.0.1/24"]}
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_failed_interface_create_leaves_nothing_behind(
    sim: SimHandle, vpp: VPPClient, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    await commit_ok(sched, keyed(descriptors, VrfTable(9)))
    # The table disappears behind the agent's back, so binding the new interface fails.
    table = {"table_id": 9, "is_ip6": False}
    await vpp.call("ip_table_add_del", is_add=False, table=table)
    before = sim.state()
    tap = Interface(
        "pod", "tap", vrf=9, tap=TapLink(host_if_name="eth0", host_namespace="/var/run/netns/p")
    )
    record = await sched.commit(keyed(descriptors, tap), trigger="test")
    key: Key = keys.interface("pod")
    assert record.errors[key].retval == -3  # type: ignore[attr-defined]
    assert sim.state() == before  # the TAP was created, then removed again
    assert "pod" not in vpp.interfaces


async def test_nat_plugin_enabled_behind_our_back_gets_the_requested_settings(
    sim: SimHandle, vpp: VPPClient, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    await vpp.call("nat44_ed_plugin_enable_disable", enable=True, inside_vrf=5, sessions=10)
    await commit_ok(sched, keyed(descriptors, Nat44Global(forwarding=True, sessions=2000)))
    nat = sim.state()["nat"]
    assert (nat["enabled"], nat["inside_vrf"], nat["sessions"], nat["forwarding"]) == (
        True,
        0,
        2000,
        True,
    )


async def test_values_and_what_they_depend_on_in_one_transaction(
    sim: SimHandle, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    """Issue 14: with its interface already there, an ACL binding and its ACLs arrive in one
    transaction; the binding must wait for the ACLs (a wave later), not race them."""
    await commit_ok(sched, keyed(descriptors, Interface("tap-1", "loopback")))
    values = keyed(
        descriptors,
        Acl("policy-1", (AclRule("deny"),)),
        Acl("reflect", (AclRule("reflect"),)),
        AclInterface("tap-1", ingress=("reflect",), egress=("policy-1",)),
        Nat44Global(forwarding=True),
        Nat44Interface("tap-1", inside=True),
    )
    record = await sched.commit(values, trigger="one transaction")
    assert record.ok, dict(record.errors)
    binding = sim.state()["acl"]["interfaces"]
    assert (
        len(binding) == 1
        and sched.status(keys.acl_interface("tap-1")).state is ValueState.CONFIGURED
    )


async def test_a_binding_moves_to_a_new_acl_without_being_unbound(
    sim: SimHandle, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    """A pod table is named after its rules: a policy change creates the new ACL, moves the
    binding in place and only then deletes the old ACL. Unbinding first (as a bounce would)
    leaves the pod without its ACLs for a moment: everything passes."""
    old, new = Acl("policy-old", (AclRule("deny"),)), Acl("policy-new", (AclRule("permit"),))
    await commit_ok(sched, keyed(descriptors, Interface("tap-1", "loopback"), old))
    await commit_ok(sched, keyed(descriptors, AclInterface("tap-1", egress=("policy-old",))))
    record = await commit_ok(
        sched,
        {
            keys.acl("policy-old"): None,
            **keyed(descriptors, new, AclInterface("tap-1", egress=("policy-new",))),
        },
    )
    assert [(o.op.value, o.key) for o in record.executed] == [
        ("create", "vpp/acl/policy-new"),
        ("update", "vpp/acl-interface/tap-1"),
        ("delete", "vpp/acl/policy-old"),
    ]
    acl = sim.state()["acl"]
    (binding,) = acl["interfaces"].values()
    assert [acl["acls"][str(i)]["tag"] for i in binding["output"]] == ["policy-new"]
