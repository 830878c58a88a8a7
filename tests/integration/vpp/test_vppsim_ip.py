"""IP in the simulator: VRFs, interface addresses / VRF / unnumbered, routes, neighbours,
proxy ARP."""

from __future__ import annotations

from typing import Any

from vppsim_helpers import NO_INDEX, SimThread

NO_LABELS = [{}] * 16  # vpp_papi needs the whole label stack when a path is given


def path(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sw_if_index": NO_INDEX, "label_stack": NO_LABELS}
    base.update(fields)
    return base


def route(vpp: Any, prefix: str, paths: list[dict[str, Any]], **kw: Any) -> Any:
    table_id = kw.pop("table_id", 0)
    return vpp.ip_route_add_del(
        route={"table_id": table_id, "prefix": prefix, "n_paths": len(paths), "paths": paths},
        **kw,
    )


def api_routes(vpp: Any, table_id: int = 0, is_ip6: bool = False) -> dict[str, list[Any]]:
    """Routes of one table added through the API (ip_route_v2_dump, source API = 8)."""
    details = vpp.ip_route_v2_dump(src=8, table={"table_id": table_id, "is_ip6": is_ip6})
    return {str(d.route.prefix): d.route.paths for d in details}


def test_tables_add_dump_delete(vpp: Any) -> None:
    assert vpp.ip_table_add_del(table={"table_id": 10, "name": "pods"}).retval == 0
    assert vpp.ip_table_add_del(table={"table_id": 10}).retval == 0  # add is idempotent
    assert vpp.ip_table_add_del(table={"table_id": 20, "is_ip6": True}).retval == 0
    tables = [(d.table.table_id, d.table.is_ip6, d.table.name) for d in vpp.ip_table_dump()]
    assert tables == [
        (0, False, "ipv4-VRF:0"),
        (10, False, "pods"),
        (0, True, "ipv6-VRF:0"),
        (20, True, "ipv6-VRF:20"),
    ]
    assert vpp.ip_table_add_del(is_add=False, table={"table_id": 10}).retval == 0
    assert vpp.ip_table_add_del(is_add=False, table={"table_id": 10}).retval == 0  # missing: ok
    assert vpp.ip_table_add_del(is_add=False, table={"table_id": 0}).retval == 0  # permanent
    assert [d.table.table_id for d in vpp.ip_table_dump()] == [0, 0, 20]


def test_interface_vrf_binding(vpp: Any) -> None:
    loop = vpp.create_loopback().sw_if_index
    assert vpp.sw_interface_set_table(sw_if_index=loop, vrf_id=5).retval == -3
    vpp.ip_table_add_del(table={"table_id": 5})
    assert vpp.sw_interface_set_table(sw_if_index=loop, vrf_id=5).retval == 0
    assert vpp.sw_interface_get_table(sw_if_index=loop).vrf_id == 5
    assert vpp.sw_interface_get_table(sw_if_index=loop, is_ipv6=True).vrf_id == 0
    assert vpp.sw_interface_set_table(sw_if_index=99, vrf_id=5).retval == -2
    prefix = "10.5.0.1/24"
    assert (
        vpp.sw_interface_add_del_address(sw_if_index=loop, is_add=True, prefix=prefix).retval == 0
    )
    # Changing the VRF of an interface that has addresses of that family is refused.
    assert vpp.sw_interface_set_table(sw_if_index=loop, vrf_id=0).retval == -114
    assert vpp.sw_interface_set_table(sw_if_index=loop, is_ipv6=True, vrf_id=0).retval == 0
    # A table an interface is bound to survives the API's delete (the interface holds it).
    vpp.ip_table_add_del(is_add=False, table={"table_id": 5})
    assert 5 in [d.table.table_id for d in vpp.ip_table_dump()]


def test_interface_addresses(vpp: Any) -> None:
    a, b = vpp.create_loopback().sw_if_index, vpp.create_loopback().sw_if_index

    def add(itf: int, prefix: str, is_add: bool = True) -> int:
        return int(
            vpp.sw_interface_add_del_address(sw_if_index=itf, is_add=is_add, prefix=prefix).retval
        )

    assert add(a, "10.1.1.1/24") == 0
    assert add(a, "10.1.1.2/24") == 0  # same subnet, same length, same interface: allowed
    assert add(a, "10.1.1.1/24") == -105  # exact duplicate
    assert add(b, "10.1.1.3/24") == -105  # overlaps another interface in the VRF
    assert add(b, "10.1.0.0/16") == -105
    assert add(b, "10.2.0.1/0") == -59
    assert add(b, "10.2.0.1/33") == -59
    assert add(0, "10.9.0.1/24") == -126  # local0
    assert add(b, "2001:db8::1/64") == 0
    assert add(b, "10.1.1.9/24", is_add=False) == -60
    got = [str(d.prefix) for d in vpp.ip_address_dump(sw_if_index=a)]
    assert got == ["10.1.1.1/24", "10.1.1.2/24"]
    assert [str(d.prefix) for d in vpp.ip_address_dump(sw_if_index=b, is_ipv6=True)] == [
        "2001:db8::1/64"
    ]
    assert add(a, "10.1.1.2/24", is_add=False) == 0
    assert vpp.sw_interface_add_del_address(sw_if_index=b, del_all=True).retval == 0
    assert vpp.ip_address_dump(sw_if_index=b, is_ipv6=True) == []
    assert vpp.ip_address_dump(sw_if_index=77) == []


def test_unnumbered(vpp: Any) -> None:
    donor, pod = vpp.create_loopback().sw_if_index, vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    vpp.sw_interface_add_del_address(sw_if_index=donor, is_add=True, prefix="10.1.0.1/32")
    reply = vpp.sw_interface_set_unnumbered(
        sw_if_index=donor, unnumbered_sw_if_index=pod, is_add=True
    )
    assert reply.retval == 0
    assert [(d.sw_if_index, d.ip_sw_if_index) for d in vpp.ip_unnumbered_dump()] == [(pod, donor)]
    # An unnumbered interface reports its donor's addresses.
    assert [str(d.prefix) for d in vpp.ip_address_dump(sw_if_index=pod)] == ["10.1.0.1/32"]
    bad_donor = vpp.sw_interface_set_unnumbered(
        sw_if_index=99, unnumbered_sw_if_index=pod, is_add=True
    )
    assert bad_donor.retval == -10
    bad = vpp.sw_interface_set_unnumbered(sw_if_index=donor, unnumbered_sw_if_index=99, is_add=True)
    assert bad.retval == -2
    off = vpp.sw_interface_set_unnumbered(
        sw_if_index=donor, unnumbered_sw_if_index=pod, is_add=False
    )
    assert off.retval == 0
    assert vpp.ip_unnumbered_dump() == []


def test_routes_multipath_replace_and_delete(vpp: Any) -> None:
    t1, t2 = vpp.tap_create_v3(id=NO_INDEX).sw_if_index, vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    via1 = path(sw_if_index=t1, nh={"address": {"ip4": "10.0.0.1"}}, weight=1)
    via2 = path(sw_if_index=t2, nh={"address": {"ip4": "10.0.0.2"}}, weight=3)
    added = route(vpp, "192.168.0.0/16", [via1], is_add=True)
    assert added.retval == 0 and added.stats_index != NO_INDEX
    assert route(vpp, "192.168.0.0/16", [via2], is_add=True, is_multipath=True).retval == 0
    (paths,) = api_routes(vpp).values()
    assert [(p.sw_if_index, str(p.nh.address.ip4), p.weight) for p in paths] == [
        (t1, "10.0.0.1", 1),
        (t2, "10.0.0.2", 3),
    ]
    # Remove one path; then replace the path set; then delete the whole route.
    assert route(vpp, "192.168.0.0/16", [via1], is_add=False, is_multipath=True).retval == 0
    assert [p.sw_if_index for p in api_routes(vpp)["192.168.0.0/16"]] == [t2]
    assert route(vpp, "192.168.0.0/16", [via1], is_add=True).retval == 0
    assert [p.sw_if_index for p in api_routes(vpp)["192.168.0.0/16"]] == [t1]
    deleted = route(vpp, "192.168.0.0/16", [], is_add=False)
    assert (deleted.retval, deleted.stats_index) == (0, NO_INDEX)
    assert api_routes(vpp) == {}
    assert route(vpp, "192.168.0.0/16", [], is_add=False).retval == 0  # missing: fine
    # Host bits are cleared; the prefix is the network.
    assert route(vpp, "172.16.5.5/16", [via1], is_add=True).retval == 0
    assert list(api_routes(vpp)) == ["172.16.0.0/16"]


def test_inter_vrf_drop_and_ipv6_routes(vpp: Any) -> None:
    vpp.ip_table_add_del(table={"table_id": 1})
    # A lookup in table 1 from table 0 (next hop zero, no interface, table_id 1).
    deag = path(table_id=1, nh={"address": {"ip4": "0.0.0.0"}})
    assert route(vpp, "10.1.0.0/16", [deag], is_add=True).retval == 0
    (p,) = api_routes(vpp)["10.1.0.0/16"]
    assert (p.table_id, p.sw_if_index, str(p.nh.address.ip4)) == (1, NO_INDEX, "0.0.0.0")
    drop = path(type=2)
    assert route(vpp, "10.66.0.0/16", [drop], is_add=True, table_id=1).retval == 0
    assert [p.type for p in api_routes(vpp, 1)["10.66.0.0/16"]] == [2]
    v6 = path(proto=1, nh={"address": {"ip6": "fe80::1"}}, sw_if_index=0)
    assert route(vpp, "2001:db8::/32", [v6], is_add=True).retval == 0
    (p6,) = api_routes(vpp, is_ip6=True)["2001:db8::/32"]
    assert str(p6.nh.address.ip6) == "fe80::1"


def test_route_errors(vpp: Any) -> None:
    via = path(sw_if_index=0, nh={"address": {"ip4": "10.0.0.1"}})
    assert route(vpp, "10.0.0.0/8", [via], is_add=True, table_id=9).retval == -3
    assert route(vpp, "10.0.0.0/8", [], is_add=True).retval == -52
    assert route(vpp, "10.0.0.0/8", [], is_add=False, is_multipath=True).retval == -52
    assert route(vpp, "10.0.0.0/8", [path(sw_if_index=42)], is_add=True).retval == -54
    recursive_in_missing_table = path(table_id=7, nh={"address": {"ip4": "1.1.1.1"}})
    assert route(vpp, "10.0.0.0/8", [recursive_in_missing_table], is_add=True).retval == -3
    too_long = vpp.ip_route_add_del(
        is_add=True,
        route={
            "prefix": {"address": {"af": 0, "un": {"ip4": b"\x0a\0\0\0"}}, "len": 33},
            "n_paths": 1,
            "paths": [via],
        },
    )
    assert too_long.retval == -171
    assert api_routes(vpp) == {}


def test_route_dump_shows_what_vpp_installs_itself(vpp: Any) -> None:
    loop = vpp.create_loopback().sw_if_index
    vpp.sw_interface_add_del_address(sw_if_index=loop, is_add=True, prefix="10.1.1.1/24")
    via = path(sw_if_index=loop, nh={"address": {"ip4": "10.1.1.7"}})
    route(vpp, "0.0.0.0/0", [via], is_add=True)
    details = {str(d.route.prefix): d.route for d in vpp.ip_route_dump(table={"table_id": 0})}
    assert set(details) == {
        "0.0.0.0/0",  # the API's default route wins over the default-route drop
        "0.0.0.0/32",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "10.1.1.0/24",  # connected
        "10.1.1.0/32",  # network, drop
        "10.1.1.1/32",  # local
        "10.1.1.255/32",  # broadcast, drop
    }
    assert [p.sw_if_index for p in details["0.0.0.0/0"].paths] == [loop]
    assert [(p.type, p.sw_if_index) for p in details["10.1.1.1/32"].paths] == [(1, loop)]
    sources = {
        str(d.route.prefix): d.route.src for d in vpp.ip_route_v2_dump(table={"table_id": 0})
    }
    assert (sources["0.0.0.0/0"], sources["10.1.1.0/24"], sources["224.0.0.0/4"]) == (8, 4, 1)
    assert vpp.ip_route_dump(table={"table_id": 33}) == []


def test_neighbors(vpp: Any) -> None:
    tap = vpp.tap_create_v3(id=NO_INDEX).sw_if_index

    def nbr(ip: str, mac: str, flags: int = 0, is_add: bool = True, itf: int = tap) -> Any:
        return vpp.ip_neighbor_add_del(
            is_add=is_add,
            neighbor={"sw_if_index": itf, "flags": flags, "mac_address": mac, "ip_address": ip},
        )

    first = nbr("10.1.1.2", "02:00:00:00:00:02", flags=1)
    assert first.retval == 0 and first.stats_index != NO_INDEX
    assert nbr("10.1.1.2", "02:00:00:00:00:02").retval == 0  # dynamic, same MAC: accepted
    assert nbr("10.1.1.2", "02:00:00:00:00:09").retval == -2  # would overwrite a static entry
    assert nbr("10.1.1.3", "02:00:00:00:00:03").retval == 0
    assert nbr("10.1.1.3", "02:00:00:00:00:04", flags=1).retval == 0  # dynamic becomes static
    assert nbr("2001:db8::3", "02:00:00:00:00:06").retval == 0
    assert nbr("10.1.1.4", "02:00:00:00:00:05", itf=55).retval == -2
    assert nbr("10.9.9.9", "02:00:00:00:00:05", is_add=False).retval == -6
    v4 = vpp.ip_neighbor_dump(sw_if_index=NO_INDEX, af=0)
    got = [
        (str(d.neighbor.ip_address), str(d.neighbor.mac_address), int(d.neighbor.flags)) for d in v4
    ]
    assert got == [("10.1.1.2", "02:00:00:00:00:02", 1), ("10.1.1.3", "02:00:00:00:00:04", 1)]
    assert len(vpp.ip_neighbor_dump(sw_if_index=tap, af=1)) == 1
    assert nbr("10.1.1.3", "00:00:00:00:00:00", is_add=False).retval == 0
    vpp.tap_delete_v2(sw_if_index=tap)  # neighbours go with their interface
    assert vpp.ip_neighbor_dump(sw_if_index=NO_INDEX, af=0) == []


def test_proxy_arp(vpp: Any, sim: SimThread) -> None:
    proxy = {"table_id": 0, "low": "10.1.1.1", "hi": "10.1.1.254"}
    assert vpp.proxy_arp_add_del(is_add=True, proxy=proxy).retval == 0
    assert vpp.proxy_arp_add_del(is_add=True, proxy=proxy).retval == 0  # already there: fine
    assert vpp.proxy_arp_add_del(is_add=True, proxy={**proxy, "table_id": 4}).retval == -3
    (d,) = vpp.proxy_arp_dump()
    assert (d.proxy.table_id, str(d.proxy.low), str(d.proxy.hi)) == (0, "10.1.1.1", "10.1.1.254")
    tap = vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    assert vpp.proxy_arp_intfc_enable_disable(sw_if_index=tap, enable=True).retval == 0
    assert vpp.proxy_arp_intfc_enable_disable(sw_if_index=66, enable=True).retval == -2
    assert [d.sw_if_index for d in vpp.proxy_arp_intfc_dump()] == [tap]
    assert sim.state()["ip"]["proxy_arp_interfaces"] == [tap]
    assert vpp.proxy_arp_intfc_enable_disable(sw_if_index=tap, enable=False).retval == 0
    assert vpp.proxy_arp_intfc_dump() == []
    assert vpp.proxy_arp_add_del(is_add=False, proxy=proxy).retval == 0
    assert vpp.proxy_arp_add_del(is_add=False, proxy=proxy).retval == -6
    assert vpp.proxy_arp_dump() == []
