"""Interfaces in the simulator: loopbacks, taps, flags, tags, MAC, MTU, dumps and events."""

from __future__ import annotations

import threading
from typing import Any

from vppsim_helpers import NO_INDEX, SimThread, papi_client


def names(vpp: Any) -> dict[int, str]:
    return {d.sw_if_index: d.interface_name for d in vpp.sw_interface_dump()}


def test_fresh_vpp_has_only_local0(vpp: Any) -> None:
    (local0,) = vpp.sw_interface_dump()
    assert (local0.sw_if_index, local0.interface_name, local0.interface_dev_type) == (
        0,
        "local0",
        "local",
    )
    assert local0.flags == 0 and local0.sup_sw_if_index == 0


def test_loopbacks_create_dump_delete_and_index_reuse(vpp: Any) -> None:
    a = vpp.create_loopback()
    b = vpp.create_loopback(mac_address="02:00:00:00:00:aa")
    assert (a.retval, a.sw_if_index, b.sw_if_index) == (0, 1, 2)
    details = {d.sw_if_index: d for d in vpp.sw_interface_dump()}
    assert details[1].interface_name == "loop0"
    assert str(details[1].l2_address) == "de:ad:00:00:00:00"  # VPP's default loopback MAC
    assert str(details[2].l2_address) == "02:00:00:00:00:aa"
    assert details[2].interface_dev_type == "Loopback"
    assert details[2].mtu == [9000, 0, 0, 0] and details[2].flags == 0
    assert vpp.delete_loopback(sw_if_index=1).retval == 0
    assert vpp.delete_loopback(sw_if_index=1).retval == -2
    # The most recently freed sw_if_index and the lowest free instance are taken first.
    c = vpp.create_loopback_instance(is_specified=True, user_instance=7)
    assert c.sw_if_index == 1 and names(vpp)[1] == "loop7"
    assert vpp.create_loopback_instance(is_specified=True, user_instance=7).retval == -31
    d = vpp.create_loopback()
    assert (d.sw_if_index, names(vpp)[d.sw_if_index]) == (3, "loop0")


def test_delete_loopback_refuses_other_kinds(vpp: Any) -> None:
    tap = vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    assert vpp.delete_loopback(sw_if_index=tap).retval == -2
    assert vpp.delete_loopback(sw_if_index=0).retval == -2


def test_tap_create_dump_delete(vpp: Any) -> None:
    reply = vpp.tap_create_v3(
        id=NO_INDEX,
        use_random_mac=False,
        mac_address="02:fe:00:00:00:01",
        num_rx_queues=2,
        tx_ring_sz=1024,
        rx_ring_sz=512,
        host_if_name_set=True,
        host_if_name="vpp-pod1",
        host_namespace_set=True,
        host_namespace="pod1-ns",
        host_mac_addr_set=True,
        host_mac_addr="aa:bb:cc:00:00:01",
        host_ip4_prefix_set=True,
        host_ip4_prefix="10.1.1.2/24",
        host_mtu_set=True,
        host_mtu_size=1450,
        tap_flags=1,
        tag="pod1-eth0",
    )
    assert reply.retval == 0
    (tap,) = vpp.sw_interface_tap_v2_dump()
    assert tap.sw_if_index == reply.sw_if_index
    assert (tap.id, tap.tx_ring_sz, tap.rx_ring_sz, tap.host_mtu_size) == (0, 1024, 512, 1450)
    assert (tap.host_if_name, tap.host_namespace, int(tap.tap_flags)) == ("vpp-pod1", "pod1-ns", 1)
    assert str(tap.host_mac_addr) == "aa:bb:cc:00:00:01"
    assert str(tap.host_ip4_prefix) == "10.1.1.2/24"
    (itf,) = vpp.sw_interface_dump(sw_if_index=reply.sw_if_index)
    assert (itf.interface_name, itf.interface_dev_type, itf.tag) == ("tap0", "tap", "pod1-eth0")
    assert str(itf.l2_address) == "02:fe:00:00:00:01"
    assert itf.flags == 2  # created admin-down, link up
    # The deprecated v2 message still works and takes the next free id.
    v2 = vpp.tap_create_v2(id=NO_INDEX, tag="old")
    assert v2.retval == 0 and names(vpp)[v2.sw_if_index] == "tap1"
    assert len(vpp.sw_interface_tap_v2_dump(sw_if_index=v2.sw_if_index)) == 1
    assert vpp.tap_delete_v2(sw_if_index=reply.sw_if_index).retval == 0
    assert vpp.tap_delete_v2(sw_if_index=reply.sw_if_index).retval == -2
    assert [t.id for t in vpp.sw_interface_tap_v2_dump()] == [1]
    assert vpp.tap_create_v3(id=NO_INDEX).retval == 0  # id 0 is free again
    assert sorted(t.id for t in vpp.sw_interface_tap_v2_dump()) == [0, 1]


def test_tap_create_errors(vpp: Any) -> None:
    assert vpp.tap_create_v3(id=5).retval == 0
    dup = vpp.tap_create_v3(id=5)
    assert (dup.retval, dup.sw_if_index) == (-71, NO_INDEX)
    assert vpp.tap_create_v3(id=9000).retval == -1
    assert vpp.tap_create_v3(id=NO_INDEX, tap_flags=8).retval == -54  # ATTACH needs a host name
    assert vpp.tap_create_v3(id=NO_INDEX, rx_ring_sz=300).retval == -7
    assert vpp.tap_delete_v2(sw_if_index=0).retval == -2
    assert [t.id for t in vpp.sw_interface_tap_v2_dump()] == [5]


def test_admin_state_link_state_and_events(vpp_client: Any) -> None:
    api = vpp_client.api
    events: list[Any] = []
    five = threading.Event()

    def on_event(name: str, msg: Any) -> None:
        events.append(msg)
        if len(events) == 5:
            five.set()

    vpp_client.register_event_callback(on_event)
    assert api.want_interface_events(enable_disable=1, pid=1).retval == 0
    tap = api.tap_create_v3(id=NO_INDEX).sw_if_index
    assert api.sw_interface_set_flags(sw_if_index=tap, flags=1).retval == 0
    assert api.sw_interface_set_flags(sw_if_index=tap, flags=1).retval == 0  # no change
    flags = {d.sw_if_index: d.flags for d in api.sw_interface_dump()}
    assert flags[tap] == 3
    assert api.sw_interface_set_flags(sw_if_index=tap, flags=2).retval == 0  # LINK_UP ignored
    assert {d.sw_if_index: d.flags for d in api.sw_interface_dump()}[tap] == 0
    assert api.sw_interface_set_flags(sw_if_index=99, flags=1).retval == -2
    loop = api.create_loopback().sw_if_index
    assert api.delete_loopback(sw_if_index=loop).retval == 0
    assert five.wait(5)
    # Creation, admin+link up, admin down (a batch that went down reports 0), create, delete.
    assert [(e.sw_if_index, int(e.flags), e.deleted) for e in events] == [
        (tap, 2, False),
        (tap, 1, False),  # the link was already up: only admin changed
        (tap, 0, False),
        (loop, 0, False),
        (loop, 0, True),
    ]


def test_tag_mac_and_mtu(vpp: Any) -> None:
    loop = vpp.create_loopback().sw_if_index
    assert vpp.sw_interface_tag_add_del(is_add=True, sw_if_index=loop, tag="bvi-main").retval == 0
    assert vpp.sw_interface_tag_add_del(is_add=True, sw_if_index=loop, tag="").retval == -7
    assert vpp.sw_interface_tag_add_del(is_add=True, sw_if_index=77, tag="x").retval == -2
    mac = vpp.sw_interface_set_mac_address(sw_if_index=loop, mac_address="02:00:00:00:00:01")
    assert mac.retval == 0
    assert vpp.hw_interface_set_mtu(sw_if_index=loop, mtu=1500).retval == 0
    assert vpp.hw_interface_set_mtu(sw_if_index=loop, mtu=20000).retval == -7
    assert vpp.hw_interface_set_mtu(sw_if_index=0, mtu=1500).retval == -30  # local0: no ethernet
    assert vpp.sw_interface_set_mtu(sw_if_index=loop, mtu=[1400, 0, 1300, 0]).retval == 0
    (d,) = vpp.sw_interface_dump(sw_if_index=loop)
    assert (d.tag, str(d.l2_address), d.link_mtu, d.mtu) == (
        "bvi-main",
        "02:00:00:00:00:01",
        1500,
        [1400, 0, 1300, 0],
    )
    assert vpp.sw_interface_tag_add_del(is_add=False, sw_if_index=loop).retval == 0
    assert vpp.sw_interface_dump(sw_if_index=loop)[0].tag == ""


def test_dump_filters(vpp: Any) -> None:
    vpp.create_loopback()
    vpp.tap_create_v3(id=NO_INDEX)
    assert len(vpp.sw_interface_dump(sw_if_index=0)) == 3  # 0 means all, as ~0
    assert [d.interface_name for d in vpp.sw_interface_dump(sw_if_index=2)] == ["tap0"]
    assert vpp.sw_interface_dump(sw_if_index=42) == []
    by_name = vpp.sw_interface_dump(name_filter_valid=True, name_filter="LOOP", sw_if_index=2)
    assert [d.interface_name for d in by_name] == ["loop0"]


def test_bvi_create_and_delete(vpp: Any) -> None:
    bvi = vpp.bvi_create(user_instance=NO_INDEX)
    assert bvi.retval == 0 and names(vpp)[bvi.sw_if_index] == "bvi0"
    assert vpp.bvi_create(user_instance=0).retval == -31
    assert vpp.bvi_delete(sw_if_index=bvi.sw_if_index).retval == 0
    assert vpp.bvi_delete(sw_if_index=bvi.sw_if_index).retval == -2


def test_restarted_simulator_is_empty(sim: SimThread) -> None:
    client = papi_client(sim.path)
    client.api.create_loopback()
    client.disconnect()
    sim.restart()
    client = papi_client(sim.path)
    try:
        assert [d.interface_name for d in client.api.sw_interface_dump()] == ["local0"]
        assert sim.state()["interfaces"][0]["name"] == "local0"
    finally:
        client.disconnect()
