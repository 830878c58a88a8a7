"""NAT44-ED and ACLs in the simulator."""

from __future__ import annotations

from typing import Any

from vppsim_helpers import NO_INDEX, SimThread

INSIDE, OUTSIDE = 0x20, 0x10
TWICE_NAT, SELF_TWICE_NAT, OUT2IN_ONLY, ADDR_ONLY = 0x01, 0x02, 0x04, 0x08
TCP, UDP = 6, 17


def static(vpp: Any, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "is_add": True,
        "local_ip_address": "10.1.1.2",
        "external_ip_address": "10.96.0.10",
        "protocol": TCP,
        "local_port": 8080,
        "external_port": 80,
        "external_sw_if_index": NO_INDEX,
        "vrf_id": NO_INDEX,
        "tag": "svc",
    }
    fields.update(kw)
    return vpp.nat44_add_del_static_mapping_v2(**fields)


def lb(vpp: Any, backends: list[tuple[str, int]], **kw: Any) -> Any:
    locals_ = [{"addr": a, "port": p, "probability": 50, "vrf_id": 0} for a, p in backends]
    fields: dict[str, Any] = {
        "is_add": True,
        "external_addr": "10.96.0.20",
        "external_port": 80,
        "protocol": TCP,
        "local_num": len(locals_),
        "locals": locals_,
        "flags": OUT2IN_ONLY,
        "tag": "svc-lb",
    }
    fields.update(kw)
    return vpp.nat44_add_del_lb_static_mapping(**fields)


def test_nat_plugin_must_be_enabled(vpp: Any) -> None:
    assert (
        vpp.nat44_interface_add_del_feature(is_add=True, flags=INSIDE, sw_if_index=0).retval == -126
    )
    assert static(vpp).retval == -126
    assert lb(vpp, [("10.1.1.2", 80), ("10.1.1.3", 80)]).retval == -126
    rng = {"first_ip_address": "1.1.1.1", "last_ip_address": "1.1.1.1", "vrf_id": NO_INDEX}
    assert vpp.nat44_add_del_address_range(is_add=True, **rng).retval == -126
    assert vpp.nat44_add_del_address_range(is_add=False, **rng).retval == -6
    assert vpp.nat44_ed_plugin_enable_disable(enable=False).retval == -169
    assert vpp.nat44_ed_plugin_enable_disable(enable=True, flags=2).retval == -126
    assert vpp.nat44_ed_plugin_enable_disable(enable=True, inside_vrf=0, outside_vrf=3).retval == 0
    assert vpp.nat44_ed_plugin_enable_disable(enable=True).retval == -170
    running = vpp.nat44_show_running_config()
    assert (running.outside_vrf, running.sessions) == (3, 63 * 1024)
    # The plugin creates its VRFs.
    assert 3 in [d.table.table_id for d in vpp.ip_table_dump()]
    assert vpp.nat44_interface_dump() == []


def test_nat_interfaces_and_address_pool(vpp: Any) -> None:
    vpp.nat44_ed_plugin_enable_disable(enable=True)
    pod, uplink = vpp.tap_create_v3(id=NO_INDEX).sw_if_index, vpp.create_loopback().sw_if_index
    feature = vpp.nat44_interface_add_del_feature
    assert feature(is_add=True, flags=INSIDE, sw_if_index=pod).retval == 0
    assert feature(is_add=True, flags=INSIDE, sw_if_index=pod).retval == 0  # same role: no-op
    assert feature(is_add=True, flags=OUTSIDE, sw_if_index=uplink).retval == 0
    assert feature(is_add=True, flags=INSIDE, sw_if_index=uplink).retval == 0  # both roles
    assert feature(is_add=True, flags=INSIDE, sw_if_index=42).retval == -2
    got = {d.sw_if_index: int(d.flags) for d in vpp.nat44_interface_dump()}
    assert got == {pod: INSIDE, uplink: INSIDE | OUTSIDE}
    assert feature(is_add=False, flags=OUTSIDE, sw_if_index=pod).retval == -6
    assert feature(is_add=False, flags=INSIDE, sw_if_index=uplink).retval == 0
    # An output-feature interface cannot also take an in/out role, and vice versa.
    other = vpp.create_loopback().sw_if_index
    assert vpp.nat44_ed_add_del_output_interface(is_add=True, sw_if_index=other).retval == 0
    assert feature(is_add=True, flags=OUTSIDE, sw_if_index=other).retval == -81
    assert vpp.nat44_ed_add_del_output_interface(is_add=True, sw_if_index=pod).retval == -81
    rng = {
        "first_ip_address": "192.168.1.10",
        "last_ip_address": "192.168.1.12",
        "vrf_id": NO_INDEX,
    }
    assert vpp.nat44_add_del_address_range(is_add=True, **rng).retval == 0
    twice = {
        "first_ip_address": "192.168.9.1",
        "last_ip_address": "192.168.9.1",
        "vrf_id": NO_INDEX,
    }
    assert vpp.nat44_add_del_address_range(is_add=True, flags=TWICE_NAT, **twice).retval == 0
    overlap = {**rng, "first_ip_address": "192.168.1.12", "last_ip_address": "192.168.1.13"}
    assert vpp.nat44_add_del_address_range(is_add=True, **overlap).retval == -81
    pool = [(str(d.ip_address), int(d.flags)) for d in vpp.nat44_address_dump()]
    assert pool == [
        ("192.168.1.10", 0),
        ("192.168.1.11", 0),
        ("192.168.1.12", 0),
        ("192.168.9.1", TWICE_NAT),
    ]
    missing = {**rng, "first_ip_address": "192.168.1.12", "last_ip_address": "192.168.1.14"}
    assert vpp.nat44_add_del_address_range(is_add=False, **missing).retval == -6
    # Applied address by address: .12 went before .13 failed.
    assert len(vpp.nat44_address_dump()) == 3


def test_static_and_identity_mappings(vpp: Any) -> None:
    vpp.nat44_ed_plugin_enable_disable(enable=True, inside_vrf=0)
    assert static(vpp).retval == 0
    assert static(vpp).retval == -81  # same external address / port / protocol
    assert static(vpp, external_port=81).retval == -81  # same local address / port
    assert static(vpp, external_port=81, flags=OUT2IN_ONLY).retval == 0
    assert static(vpp, flags=ADDR_ONLY | TWICE_NAT, external_ip_address="10.96.0.11").retval == -126
    assert (
        static(
            vpp, flags=ADDR_ONLY, local_ip_address="10.1.1.9", external_ip_address="10.96.0.12"
        ).retval
        == 0
    )
    twice = static(
        vpp,
        flags=TWICE_NAT,
        external_port=82,
        local_port=8082,
        match_pool=True,
        pool_ip_address="192.168.9.1",
    )
    assert twice.retval == 0
    got = sorted(
        (str(d.external_ip_address), d.external_port, d.local_port, int(d.flags), d.vrf_id, d.tag)
        for d in vpp.nat44_static_mapping_dump()
    )
    assert got == [
        ("10.96.0.10", 80, 8080, 0, 0, "svc"),
        ("10.96.0.10", 81, 8080, OUT2IN_ONLY, 0, "svc"),
        ("10.96.0.10", 82, 8082, TWICE_NAT, 0, "svc"),
        ("10.96.0.12", 0, 0, ADDR_ONLY, 0, "svc"),
    ]
    assert static(vpp, is_add=False).retval == 0
    assert static(vpp, is_add=False).retval == -6
    ident = vpp.nat44_add_del_identity_mapping
    assert (
        ident(
            is_add=True,
            ip_address="10.0.0.1",
            protocol=TCP,
            port=22,
            sw_if_index=NO_INDEX,
            vrf_id=0,
        ).retval
        == 0
    )
    assert (
        ident(
            is_add=True,
            ip_address="10.0.0.1",
            protocol=TCP,
            port=22,
            sw_if_index=NO_INDEX,
            vrf_id=0,
        ).retval
        == -81
    )
    assert (
        ident(
            is_add=True,
            flags=ADDR_ONLY,
            ip_address="10.0.0.2",
            sw_if_index=NO_INDEX,
            vrf_id=NO_INDEX,
        ).retval
        == 0
    )
    rows = sorted(
        (str(d.ip_address), d.protocol, d.port, int(d.flags))
        for d in vpp.nat44_identity_mapping_dump()
    )
    assert rows == [("10.0.0.1", TCP, 22, 0), ("10.0.0.2", 0, 0, ADDR_ONLY)]
    assert (
        ident(
            is_add=False,
            ip_address="10.0.0.3",
            protocol=TCP,
            port=22,
            sw_if_index=NO_INDEX,
            vrf_id=0,
        ).retval
        == -6
    )


def test_load_balanced_mappings(vpp: Any) -> None:
    vpp.nat44_ed_plugin_enable_disable(enable=True)
    assert lb(vpp, [("10.1.1.2", 8080)]).retval == -7  # needs two backends
    assert lb(vpp, [("10.1.1.2", 8080), ("10.1.1.3", 8080)], flags=0).retval == -6  # not in pool
    two = [("10.1.1.2", 8080), ("10.1.1.3", 8080)]
    assert lb(vpp, two, affinity=10800).retval == 0
    assert lb(vpp, two).retval == -81
    (m,) = vpp.nat44_lb_static_mapping_dump()
    assert (str(m.external_addr), m.external_port, m.protocol, m.affinity, m.local_num) == (
        "10.96.0.20",
        80,
        TCP,
        10800,
        2,
    )
    assert [(str(x.addr), x.port, x.probability) for x in m.locals] == [
        ("10.1.1.2", 8080, 50),
        ("10.1.1.3", 8080, 50),
    ]
    edit = vpp.nat44_lb_static_mapping_add_del_local
    key = {"external_addr": "10.96.0.20", "external_port": 80, "protocol": TCP}
    third = {"addr": "10.1.1.4", "port": 8080, "probability": 30, "vrf_id": 0}
    assert edit(is_add=True, local=third, **key).retval == 0
    assert edit(is_add=True, local=third, **key).retval == -81
    assert edit(is_add=False, local=third, **key).retval == 0
    assert edit(is_add=False, local=third, **key).retval == -6
    first = {"addr": "10.1.1.2", "port": 8080, "probability": 50, "vrf_id": 0}
    assert edit(is_add=False, local=first, **key).retval == -1  # would leave one backend
    assert edit(is_add=True, local=third, **{**key, "external_port": 99}).retval == -6
    # A plain static mapping is not an LB mapping.
    assert static(vpp, external_ip_address="10.96.0.30").retval == 0
    not_lb = {"external_addr": "10.96.0.30", "external_port": 80, "protocol": TCP}
    assert edit(is_add=True, local=third, **not_lb).retval == -7
    assert lb(vpp, two, is_add=False, external_addr="10.96.0.30").retval == -7
    assert lb(vpp, two, is_add=False).retval == 0
    assert lb(vpp, two, is_add=False).retval == -6
    assert vpp.nat44_lb_static_mapping_dump() == []


def test_disabling_nat_wipes_its_configuration(vpp: Any, sim: SimThread) -> None:
    vpp.nat44_ed_plugin_enable_disable(enable=True)
    vpp.nat44_interface_add_del_feature(is_add=True, flags=INSIDE, sw_if_index=0)
    static(vpp)
    assert sim.state()["nat"]["static_mappings"]
    assert vpp.nat44_ed_plugin_enable_disable(enable=False).retval == 0
    assert vpp.nat44_static_mapping_dump() == [] and vpp.nat44_interface_dump() == []
    assert sim.state()["nat"]["enabled"] is False


def rule(src: str = "10.0.0.0/8", dst: str = "0.0.0.0/0", **kw: Any) -> dict[str, Any]:
    return {"is_permit": 1, "src_prefix": src, "dst_prefix": dst, **kw}


def acl_add(
    vpp: Any, rules: list[dict[str, Any]], acl_index: int = NO_INDEX, tag: str = "p"
) -> Any:
    return vpp.acl_add_replace(acl_index=acl_index, tag=tag, count=len(rules), r=rules)


def test_acl_add_dump_replace_delete(vpp: Any) -> None:
    web = rule(proto=TCP, dstport_or_icmpcode_first=80, dstport_or_icmpcode_last=443)
    deny = rule("2001:db8::/32", "::/0", is_permit=0)
    first = acl_add(vpp, [web, deny], tag="web")
    assert (first.retval, first.acl_index) == (0, 0)
    (d,) = vpp.acl_dump(acl_index=NO_INDEX)
    assert (d.acl_index, d.tag, d.count) == (0, "web", 2)
    r0, r1 = d.r
    assert (str(r0.src_prefix), str(r0.dst_prefix), int(r0.proto)) == (
        "10.0.0.0/8",
        "0.0.0.0/0",
        TCP,
    )
    assert (r0.dstport_or_icmpcode_first, r0.dstport_or_icmpcode_last) == (80, 443)
    assert (int(r1.is_permit), str(r1.src_prefix)) == (0, "2001:db8::/32")
    assert acl_add(vpp, [], tag="empty").acl_index == 1
    assert acl_add(vpp, [deny], acl_index=0, tag="replaced").retval == 0
    assert [(d.tag, d.count) for d in vpp.acl_dump(acl_index=0)] == [("replaced", 1)]
    missing = acl_add(vpp, [deny], acl_index=9)
    assert (missing.retval, missing.acl_index) == (-6, 9)
    assert vpp.acl_del(acl_index=0).retval == 0
    assert vpp.acl_del(acl_index=0).retval == -6
    assert acl_add(vpp, []).acl_index == 0  # freed indices are reused
    assert vpp.acl_dump(acl_index=5) == []


def test_acl_rule_validation(vpp: Any) -> None:
    host_bits = {"address": {"af": 0, "un": {"ip4": b"\x0a\x01\x01\x05"}}, "len": 24}
    assert acl_add(vpp, [rule(src=host_bits)]).retval == -57
    assert acl_add(vpp, [rule(dst=host_bits)]).retval == -58
    assert acl_add(vpp, [rule(dst="::/0")]).retval == -57  # mixed families
    ports = rule(srcport_or_icmptype_first=100, srcport_or_icmptype_last=10)
    assert acl_add(vpp, [ports]).retval == -8
    assert vpp.acl_dump(acl_index=NO_INDEX) == []


def test_acl_interface_binding(vpp: Any) -> None:
    a, b = acl_add(vpp, [rule()]).acl_index, acl_add(vpp, [rule(is_permit=0)]).acl_index
    tap = vpp.tap_create_v3(id=NO_INDEX).sw_if_index
    bind = vpp.acl_interface_set_acl_list
    assert bind(sw_if_index=tap, count=2, n_input=1, acls=[a, b]).retval == 0
    rows = {d.sw_if_index: (d.n_input, d.acls) for d in vpp.acl_interface_list_dump()}
    assert rows == {0: (0, []), tap: (1, [a, b])}  # every interface is listed
    assert bind(sw_if_index=tap, count=1, n_input=0, acls=[7]).retval == -6
    assert bind(sw_if_index=99, count=1, n_input=1, acls=[a]).retval == -2
    # The same ACL twice in one direction: VPP ORs its internal errors into retval 1.
    assert bind(sw_if_index=tap, count=2, n_input=2, acls=[a, a]).retval == 1
    # The egress step (first) succeeded, so the output list changed to empty.
    assert vpp.acl_interface_list_dump(sw_if_index=tap)[0].acls == [a]
    assert vpp.acl_del(acl_index=a).retval == -142
    assert bind(sw_if_index=tap, count=1, n_input=0, acls=[a]).retval == 0
    assert vpp.acl_del(acl_index=a).retval == -143
    edit = vpp.acl_interface_add_del
    assert edit(is_add=True, is_input=True, sw_if_index=tap, acl_index=b).retval == 0
    assert edit(is_add=True, is_input=True, sw_if_index=tap, acl_index=b).retval == -116
    (row,) = vpp.acl_interface_list_dump(sw_if_index=tap)
    assert (row.count, row.n_input, row.acls) == (2, 1, [b, a])
    assert bind(sw_if_index=tap, count=0, n_input=0, acls=[]).retval == 0
    assert vpp.acl_del(acl_index=a).retval == 0
