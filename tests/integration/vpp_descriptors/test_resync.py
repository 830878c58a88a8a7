"""Resync against the simulator with every VPP descriptor: the node the renderers produce for
``examples/three-pods.jsonl`` plus services (NAT44) and policies (ACL) on top of it.

- a full resync of an unchanged VPP writes nothing, also from a new (restarted) agent;
- after VPP restarts (all state gone), a downstream resync restores exactly the prior state;
- a full resync repairs what was changed behind the agent's back, removes what it no longer
  wants (tagged interfaces) and leaves alone what is not its own (untagged ones, local0).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vppdesc_helpers import SimHandle, by_names, commit_ok, keyed, macs_in

from contivpp.events.log import read_lines
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclRule, PortRange
from contivpp.model.nat import (
    Nat44AddressPool,
    Nat44Global,
    Nat44IdentityMapping,
    Nat44Interface,
    Nat44LbLocal,
    Nat44LbStaticMapping,
    Nat44StaticMapping,
)
from contivpp.reconcile import AnyDescriptor, Key, ResyncKind, RetryPolicy, Scheduler
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors

EXAMPLE = Path(__file__).parents[3] / "examples" / "three-pods.jsonl"
NO_INDEX = 0xFFFFFFFF


async def node_desired(descriptors: list[AnyDescriptor]) -> dict[Key, object]:
    """The example node's VPP values, plus NAT44 and ACL values using its interfaces."""
    result = await replay(read_lines(iter(EXAMPLE.read_text().splitlines())))
    desired = {k: v for k, v in result.desired.items() if k.startswith("vpp/")}
    pod_taps = sorted(
        k.removeprefix(keys.INTERFACE_PREFIX)
        for k in desired
        if k.startswith(keys.INTERFACE_PREFIX + "tap-") and not k.endswith("tap-vpp2")
    )
    assert len(pod_taps) == 3
    web0, db, web1 = pod_taps  # sorted by container ID
    policy = Acl(
        "contiv-policy-1",
        (
            AclRule(
                "permit", src_network="10.1.1.2/32", protocol="tcp", dst_ports=PortRange(5432, 5432)
            ),
            AclRule("deny"),
        ),
    )
    services = keyed(
        descriptors,
        Nat44Global(forwarding=True),
        Nat44Interface("tap-vpp2", inside=True, outside=True),
        Nat44Interface("vxlanBVI", inside=True, outside=True),
        Nat44Interface("loopbackNIC", output=True),
        *(Nat44Interface(tap, inside=True, outside=True) for tap in pod_taps),
        Nat44AddressPool("192.168.16.1"),
        Nat44AddressPool("10.1.1.254", twice_nat=True),
        Nat44LbStaticMapping(
            "10.96.0.10",
            80,
            "tcp",
            (Nat44LbLocal("10.1.1.2", 8080, vrf=1), Nat44LbLocal("10.1.1.5", 8080, vrf=1)),
            twice_nat="self",
            label="default/web",
        ),
        Nat44StaticMapping(
            "10.1.1.4", "10.96.0.20", protocol="tcp", local_port=5432, external_port=5432, vrf=1
        ),
        Nat44IdentityMapping(ip="192.168.16.1", protocol="udp", port=4789),
        Nat44IdentityMapping(ip="192.168.16.1", vrf=1),
        policy,
        Acl("contiv-policy-REFLECTION", (AclRule("reflect"),)),
        AclInterface(db, ingress=("contiv-policy-REFLECTION",), egress=("contiv-policy-1",)),
        AclInterface(web0, ingress=("contiv-policy-REFLECTION",)),
    )
    assert web1.startswith("tap-")
    return {**desired, **services}


@pytest.fixture
async def desired(descriptors: list[AnyDescriptor]) -> dict[Key, object]:
    return await node_desired(descriptors)


async def test_no_drift_means_no_writes_and_restart_restores_everything(
    sim: SimHandle, vpp: VPPClient, sched: Scheduler, desired: dict[Key, object]
) -> None:
    ours = macs_in(desired.values())
    record = await commit_ok(sched, desired)
    assert record.calls >= len(desired)
    before = by_names(sim.state(), ours)
    # Everything is really there (spot checks over every area).
    assert len(before["taps"]) == 4 and len(before["vxlan"]) == 1
    assert before["l2"]["fib"] and before["ip"]["neighbors"] and before["ip"]["unnumbered"]
    assert before["nat"]["lb_mappings"] and before["nat"]["identity_mappings"]
    assert before["acl"]["interfaces"]

    resync = await sched.resync(ResyncKind.FULL, desired=desired, trigger="test")
    assert (resync.ok, resync.calls, dict(resync.retrieve_errors)) == (True, 0, {})

    await sim.restart()
    restart = await asyncio.wait_for(vpp.restarts.get(), 10)
    assert restart.generation == 1
    assert by_names(sim.state(), ours) != before  # really wiped
    resync = await sched.resync(ResyncKind.DOWNSTREAM, trigger="vpp restarted")
    assert resync.ok, dict(resync.errors)
    assert by_names(sim.state(), ours) == before

    resync = await sched.resync(ResyncKind.FULL, desired=desired, trigger="test")
    assert (resync.ok, resync.calls) == (True, 0)


async def test_restarted_agent_finds_vpp_configured_and_writes_nothing(
    sim: SimHandle, sched: Scheduler, desired: dict[Key, object]
) -> None:
    await commit_ok(sched, desired)
    before = sim.state()
    # A new agent: new client, new scheduler, nothing believed - every value is read blind.
    async with VPPClient(sim.path, name="restarted-agent") as client:
        fresh = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        resync = await fresh.resync(ResyncKind.FULL, desired=desired, trigger="startup")
        assert (resync.ok, resync.calls, dict(resync.retrieve_errors)) == (True, 0, {})
    assert sim.state() == before


async def test_full_resync_repairs_drift_and_spares_foreign_objects(
    sim: SimHandle, vpp: VPPClient, sched: Scheduler, desired: dict[Key, object]
) -> None:
    ours = macs_in(desired.values())
    await commit_ok(sched, desired)
    before = by_names(sim.state(), ours)
    index = vpp.interfaces.require

    # Behind the agent's back: remove, change and add things.
    route = {"table_id": 1, "prefix": "10.1.2.0/24", "paths": []}
    await vpp.call("ip_route_add_del", is_add=False, is_multipath=False, route=route)
    await vpp.call("hw_interface_set_mtu", sw_if_index=index("tap-vpp2"), mtu=9000)
    neighbor = {"sw_if_index": index("vxlanBVI"), "flags": 1, "mac_address": "02:00:00:00:00:99"}
    await vpp.call(
        "ip_neighbor_add_del", is_add=True, neighbor={**neighbor, "ip_address": "192.168.30.2"}
    )
    await vpp.call(
        "sw_interface_set_l2_bridge", rx_sw_if_index=index("vxlan2"), bd_id=1, enable=False
    )
    await vpp.call(
        "nat44_add_del_address_range",
        is_add=False,
        first_ip_address="192.168.16.1",
        last_ip_address="192.168.16.1",
        vrf_id=NO_INDEX,
    )
    await vpp.call("acl_add_replace", acl_index=0, tag="contiv-policy-1", count=0, r=[])
    stray = (await vpp.call("create_loopback")).sw_if_index
    await vpp.call("sw_interface_tag_add_del", is_add=True, sw_if_index=stray, tag="stray")
    foreign = (await vpp.call("create_loopback")).sw_if_index
    assert by_names(sim.state(), ours) != before

    resync = await sched.resync(ResyncKind.FULL, desired=desired, trigger="test")
    assert resync.ok, dict(resync.errors)
    repaired = sim.state()
    assert not any(i["tag"] == "stray" for i in repaired["interfaces"])
    assert {i["sw_if_index"] for i in repaired["interfaces"]} >= {0, foreign}
    await vpp.call("delete_loopback", sw_if_index=foreign)
    assert by_names(sim.state(), ours) == before

    resync = await sched.resync(ResyncKind.FULL, desired=desired, trigger="test")
    assert (resync.ok, resync.calls) == (True, 0)


async def test_resync_removes_duplicate_interfaces_keeping_the_first(
    sim: SimHandle, vpp: VPPClient, sched: Scheduler, desired: dict[Key, object]
) -> None:
    """Issue 14: failed transactions left two loopbackNIC, podGwLoop and vxlanBVI interfaces
    (one tag each), and the next start retried BD_ALREADY_HAS_BVI for good."""
    ours = macs_in(desired.values())
    await commit_ok(sched, desired)
    before = by_names(sim.state(), ours)
    first = {
        name: vpp.interfaces.require(name) for name in ("loopbackNIC", "podGwLoop", "vxlanBVI")
    }
    duplicates = {}
    for name in first:
        index = (await vpp.call("create_loopback")).sw_if_index
        await vpp.call("sw_interface_tag_add_del", is_add=True, sw_if_index=index, tag=name)
        await vpp.call("sw_interface_set_flags", sw_if_index=index, flags=1)
        duplicates[name] = index
    # The duplicate took over as the bridge domain's BVI (the original is out of it).
    await vpp.call(
        "sw_interface_set_l2_bridge", rx_sw_if_index=first["vxlanBVI"], bd_id=1, enable=False
    )
    await vpp.call(
        "sw_interface_set_l2_bridge",
        rx_sw_if_index=duplicates["vxlanBVI"],
        bd_id=1,
        port_type=1,  # L2_API_PORT_TYPE_BVI
        enable=True,
    )
    # A new agent (nothing believed) starts on that VPP.
    async with VPPClient(sim.path, name="restarted-agent") as client:
        fresh = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        resync = await fresh.resync(ResyncKind.FULL, desired=desired, trigger="startup")
        assert resync.ok, dict(resync.errors)
        after = sim.state()
        tags = [i["tag"] for i in after["interfaces"] if i["tag"]]
        assert sorted(tags) == sorted(set(tags))  # one interface per name
        kept = {i["tag"]: i["sw_if_index"] for i in after["interfaces"] if i["tag"] in first}
        assert kept == first  # the lowest sw_if_index stays, deterministically
        assert by_names(after, ours) == before
        again = await fresh.resync(ResyncKind.FULL, desired=desired, trigger="again")
        assert (again.ok, again.calls) == (True, 0)
