"""Bridge domains, BVI, L2 FIB and VXLAN tunnels in the simulator."""

from __future__ import annotations

from typing import Any

from vppsim_helpers import NO_INDEX, SimThread

BD_FLAGS = {"flood": True, "uu_flood": True, "forward": True, "learn": True}


def test_bridge_domains_add_dump_delete(vpp: Any) -> None:
    made = vpp.bridge_domain_add_del_v2(
        bd_id=10, arp_term=True, mac_age=5, bd_tag="vxlan", **BD_FLAGS
    )
    assert (made.retval, made.bd_id) == (0, 10)
    (bd,) = vpp.bridge_domain_dump()
    assert (bd.bd_id, bd.arp_term, bd.mac_age, bd.bd_tag, bd.learn) == (10, True, 5, "vxlan", True)
    assert (bd.bvi_sw_if_index, bd.n_sw_ifs, bd.sw_if_details) == (NO_INDEX, 0, [])
    assert vpp.bridge_domain_add_del_v2(bd_id=10).retval == -119
    assert vpp.bridge_domain_add_del_v2(bd_id=1 << 24).retval == -122
    assert vpp.bridge_domain_add_del_v2(bd_id=0).retval == -121
    auto = vpp.bridge_domain_add_del_v2(bd_id=NO_INDEX)
    assert auto.retval == 0 and 1 <= auto.bd_id < 1 << 24 and auto.bd_id != 10
    assert vpp.bridge_domain_add_del_v2(bd_id=auto.bd_id, is_add=False).retval == 0
    assert vpp.bridge_domain_add_del_v2(bd_id=auto.bd_id, is_add=False).retval == -6
    assert vpp.bridge_domain_add_del(bd_id=11, **BD_FLAGS).retval == 0  # deprecated variant
    assert [d.bd_id for d in vpp.bridge_domain_dump()] == [10, 11]
    assert [d.bd_id for d in vpp.bridge_domain_dump(bd_id=11)] == [11]


def test_bvi_membership_and_split_horizon(vpp: Any) -> None:
    vpp.bridge_domain_add_del_v2(bd_id=1, **BD_FLAGS)
    bvi, loop2 = vpp.create_loopback().sw_if_index, vpp.create_loopback().sw_if_index
    tap = vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    set_bridge = vpp.sw_interface_set_l2_bridge
    assert set_bridge(rx_sw_if_index=bvi, bd_id=1, port_type=1).retval == 0
    assert set_bridge(rx_sw_if_index=tap, bd_id=1, shg=1).retval == 0
    assert set_bridge(rx_sw_if_index=loop2, bd_id=1, port_type=1).retval == -152  # second BVI
    assert set_bridge(rx_sw_if_index=loop2, bd_id=1, port_type=5).retval == -7
    assert set_bridge(rx_sw_if_index=99, bd_id=1).retval == -2
    assert set_bridge(rx_sw_if_index=0, bd_id=1, port_type=1).retval == -151  # local0
    (bd,) = vpp.bridge_domain_dump(bd_id=1)
    assert bd.bvi_sw_if_index == bvi
    assert [(s.sw_if_index, s.shg) for s in bd.sw_if_details] == [(bvi, 0), (tap, 1)]
    assert [d.bd_id for d in vpp.bridge_domain_dump(sw_if_index=tap)] == [1]
    assert vpp.bridge_domain_add_del_v2(bd_id=1, is_add=False).retval == -120
    # Joining a bridge domain that does not exist creates it with default settings.
    assert set_bridge(rx_sw_if_index=loop2, bd_id=2).retval == 0
    (bd2,) = vpp.bridge_domain_dump(bd_id=2)
    assert (bd2.flood, bd2.learn, bd2.arp_term, bd2.n_sw_ifs) == (True, True, False, 1)
    # Moving an interface between bridge domains, and back to L3.
    assert set_bridge(rx_sw_if_index=tap, bd_id=2).retval == 0
    assert vpp.bridge_domain_dump(bd_id=1)[0].n_sw_ifs == 1
    assert set_bridge(rx_sw_if_index=bvi, bd_id=1, enable=False).retval == 0
    assert vpp.bridge_domain_dump(bd_id=1)[0].bvi_sw_if_index == NO_INDEX
    assert vpp.bridge_domain_add_del_v2(bd_id=1, is_add=False).retval == 0
    vpp.tap_delete_v2(sw_if_index=tap)  # deleting a member leaves the bridge domain
    assert [s.sw_if_index for s in vpp.bridge_domain_dump(bd_id=2)[0].sw_if_details] == [loop2]


def test_l2_fib(vpp: Any) -> None:
    vpp.bridge_domain_add_del_v2(bd_id=1, **BD_FLAGS)
    tap, free = vpp.tap_create_v3(id=NO_INDEX).sw_if_index, vpp.create_loopback().sw_if_index
    vpp.sw_interface_set_l2_bridge(rx_sw_if_index=tap, bd_id=1)
    mac = "02:00:00:00:00:01"
    assert vpp.l2fib_add_del(mac=mac, bd_id=1, sw_if_index=tap, static_mac=True).retval == 0
    assert vpp.l2fib_add_del(mac=mac, bd_id=9, sw_if_index=tap).retval == -6
    assert vpp.l2fib_add_del(mac=mac, bd_id=1, sw_if_index=free).retval == -2  # not bridged
    (e,) = vpp.l2_fib_table_dump(bd_id=1)
    assert (str(e.mac), e.sw_if_index, e.static_mac, e.bvi_mac) == (mac, tap, True, False)
    assert len(vpp.l2_fib_table_dump(bd_id=NO_INDEX)) == 1
    assert vpp.l2fib_add_del(mac=mac, bd_id=1, sw_if_index=free, is_add=False).retval == -6
    assert vpp.l2fib_add_del(mac=mac, bd_id=1, sw_if_index=tap, is_add=False).retval == 0
    assert vpp.l2fib_add_del(mac=mac, bd_id=1, sw_if_index=tap, is_add=False).retval == -6
    assert vpp.l2_fib_table_dump(bd_id=1) == []


def tunnel(vpp: Any, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "is_add": True,
        "src_address": "192.168.16.1",
        "dst_address": "192.168.16.2",
        "vni": 10,
        "decap_next_index": NO_INDEX,
        "mcast_sw_if_index": NO_INDEX,
    }
    fields.update(kw)
    return vpp.vxlan_add_del_tunnel_v3(**fields)


def test_vxlan_tunnels(vpp: Any, sim: SimThread) -> None:
    made = tunnel(vpp)
    assert made.retval == 0
    (t,) = vpp.vxlan_tunnel_v2_dump(sw_if_index=NO_INDEX)
    assert (t.sw_if_index, t.instance, str(t.src_address), str(t.dst_address)) == (
        made.sw_if_index,
        0,
        "192.168.16.1",
        "192.168.16.2",
    )
    assert (t.src_port, t.dst_port, t.vni, t.decap_next_index, t.encap_vrf_id) == (
        4789,
        4789,
        10,
        1,
        0,
    )
    (itf,) = vpp.sw_interface_dump(sw_if_index=made.sw_if_index)
    assert (itf.interface_name, itf.interface_dev_type, itf.flags) == ("vxlan_tunnel0", "VXLAN", 0)
    assert str(itf.l2_address).startswith("02:fe:")
    assert tunnel(vpp).retval == -75
    assert tunnel(vpp, dst_address="192.168.16.3", instance=0).retval == -147
    assert tunnel(vpp, dst_address="192.168.16.3", instance=7).retval == 0
    assert tunnel(vpp, dst_address="192.168.16.1").retval == -82
    assert tunnel(vpp, dst_address="2001:db8::1").retval == -7
    assert tunnel(vpp, encap_vrf_id=3).retval == -3
    assert tunnel(vpp, vni=11, decap_next_index=5).retval == -76
    assert tunnel(vpp, dst_address="239.1.1.1").retval == -2  # multicast needs an interface
    # A tunnel is an L2 interface: it can join the node's bridge domain.
    assert vpp.sw_interface_set_l2_bridge(rx_sw_if_index=made.sw_if_index, bd_id=1).retval == 0
    assert vpp.vxlan_tunnel_v2_dump(sw_if_index=0) == []  # 0 is an index, not "all"
    gone = tunnel(vpp, is_add=False)
    assert (gone.retval, gone.sw_if_index) == (0, made.sw_if_index)
    assert tunnel(vpp, is_add=False).retval == -6
    assert [t.instance for t in vpp.vxlan_tunnel_v2_dump(sw_if_index=NO_INDEX)] == [7]
    assert vpp.bridge_domain_dump(bd_id=1)[0].n_sw_ifs == 0
    assert [t["instance"] for t in sim.state()["vxlan"]["tunnels"]] == [7]
