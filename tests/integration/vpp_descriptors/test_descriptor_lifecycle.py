"""Every VPP descriptor through its whole life, driven by the real scheduler against the
simulator over its socket: create -> read back (equivalent, and exactly the believed value when
correlated) -> a no-drift full resync writes nothing -> update (in place where VPP allows it,
else recreate) -> delete, after which VPP holds exactly what it held before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
from vppdesc_helpers import SimHandle, by_names, commit_ok, descriptor_for, keyed, macs_in

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
from contivpp.model.vpp import (
    AfPacketLink,
    BridgeDomain,
    BridgeDomainMember,
    Interface,
    L2FibEntry,
    Neighbor,
    Route,
    TapLink,
    VrfTable,
    VxlanLink,
)
from contivpp.reconcile import (
    AnyDescriptor,
    Correlated,
    Key,
    Operation,
    ResyncKind,
    Scheduler,
    TxnRecord,
)
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors

View = dict[str, Any]


_OFFLINE = vpp_descriptors(VPPClient("/nonexistent/api.sock"))  # key_of needs no VPP


def _values(*values: object) -> dict[Key, object]:
    return keyed(_OFFLINE, *values)


@attrs.frozen
class Case:
    id: str
    setup: dict[Key, object]
    first: dict[Key, object]
    second: dict[Key, object]
    check_first: Callable[[View], None]
    check_second: Callable[[View], None]
    #: Keys the second commit must change in place (UPDATE) or by delete + create.
    updated: tuple[Key, ...] = ()
    recreated: tuple[Key, ...] = ()


def loop(name: str, *cidrs: str, vrf: int = 0, **kw: Any) -> Interface:
    return Interface(name=name, kind="loopback", vrf=vrf, ip_addresses=cidrs, **kw)


def iface(view: View, tag: str) -> dict[str, Any]:
    return next(i for i in view["interfaces"] if i["tag"] == tag)


# ---- interfaces ---------------------------------------------------------------------------

LOOP_1 = loop("loop-a", "10.7.0.1/24", "10.7.1.1/24", vrf=7, mac="02:00:00:00:00:aa")
LOOP_2 = attrs.evolve(
    LOOP_1, mac="02:00:00:00:00:bb", mtu=1500, enabled=False, ip_addresses=("10.7.2.1/24",)
)


def loop_first(v: View) -> None:
    i = iface(v, "loop-a")
    assert (i["dev_type"], i["mac"], i["admin_up"], i["link_mtu"]) == (
        "Loopback",
        "02:00:00:00:00:aa",
        True,
        9000,
    )
    assert v["ip"]["addresses"]["loop-a"] == ["10.7.0.1/24", "10.7.1.1/24"]
    assert {"sw_if_index": "loop-a", "is_ip6": False, "table_id": 7} in v["ip"]["bindings"]


def loop_second(v: View) -> None:
    i = iface(v, "loop-a")
    assert (i["mac"], i["admin_up"], i["link_mtu"]) == ("02:00:00:00:00:bb", False, 1500)
    assert v["ip"]["addresses"]["loop-a"] == ["10.7.2.1/24"]


GW = loop("gw", "10.1.1.1/24", vrf=1)
TAP_1 = Interface(
    name="tap-pod1",
    kind="tap",
    vrf=1,
    mac="02:fe:00:00:00:01",
    mtu=1450,
    unnumbered_to="gw",
    tap=TapLink(
        host_if_name="eth0",
        host_namespace="/var/run/netns/pod1",
        host_mac="02:fe:00:00:00:02",
        host_ip4_prefix="10.1.1.2/32",
    ),
)
TAP_2 = attrs.evolve(TAP_1, mac="02:fe:00:00:00:03", enabled=False)


def tap_first(v: View) -> None:
    i = iface(v, "tap-pod1")
    assert (i["dev_type"], i["mac"], i["admin_up"], i["link_mtu"]) == (
        "tap",
        "02:fe:00:00:00:01",
        True,
        1450,
    )
    (t,) = v["taps"]
    assert (t["host_if_name"], t["host_namespace"], t["host_mac"], t["host_ip4"]) == (
        "eth0",
        "/var/run/netns/pod1",
        "02:fe:00:00:00:02",
        "10.1.1.2/32",
    )
    assert t["host_mtu_size"] == 1450
    assert v["ip"]["unnumbered"] == {"tap-pod1": "gw"}


def tap_second(v: View) -> None:
    i = iface(v, "tap-pod1")
    assert (i["mac"], i["admin_up"]) == ("02:fe:00:00:00:03", False)
    assert v["ip"]["unnumbered"] == {"tap-pod1": "gw"}


VX_1 = Interface(
    name="vx1",
    kind="vxlan",
    vxlan=VxlanLink(src="192.168.16.1", dst="192.168.16.2", vni=10, encap_vrf=3),
)
VX_2 = attrs.evolve(VX_1, mtu=1400, mac="02:00:00:00:0a:01")


def vxlan_first(v: View) -> None:
    (t,) = v["vxlan"]
    assert (t["sw_if_index"], t["src"], t["dst"], t["vni"], t["encap_vrf_id"]) == (
        "vx1",
        "192.168.16.1",
        "192.168.16.2",
        10,
        3,
    )
    assert (t["decap_next_index"], t["src_port"], t["dst_port"]) == (1, 4789, 4789)
    assert iface(v, "vx1")["admin_up"]


def vxlan_second(v: View) -> None:
    i = iface(v, "vx1")
    assert (i["link_mtu"], i["mac"]) == (1400, "02:00:00:00:0a:01")


# A host-interface (the uplink NIC): VPP names it host-<ifname>; without an MTU of its own it
# keeps what VPP read from Linux (the simulator without Linux reports 9000).
HOST_1 = Interface(
    name="uplink",
    kind="af_packet",
    mac="02:00:00:00:0b:01",
    ip_addresses=("192.0.2.10/24",),
    af_packet=AfPacketLink("eth5"),
)
HOST_2 = attrs.evolve(HOST_1, enabled=False, ip_addresses=("192.0.2.11/24",))
HOST_OTHER_NIC = attrs.evolve(HOST_1, af_packet=AfPacketLink("eth6"))


def host_first(v: View) -> None:
    i = iface(v, "uplink")
    assert (i["dev_type"], i["mac"], i["admin_up"], i["link_up"]) == (
        "af-packet",
        "02:00:00:00:0b:01",
        True,
        True,
    )
    assert [(a["sw_if_index"], a["host_if_name"]) for a in v["af_packets"]] == [("uplink", "eth5")]
    assert v["ip"]["addresses"]["uplink"] == ["192.0.2.10/24"]


def host_second(v: View) -> None:
    i = iface(v, "uplink")
    assert (i["admin_up"], i["link_up"], i["link_mtu"]) == (False, False, 9000)
    assert v["ip"]["addresses"]["uplink"] == ["192.0.2.11/24"]


def host_other_nic(v: View) -> None:
    assert [(a["sw_if_index"], a["host_if_name"]) for a in v["af_packets"]] == [("uplink", "eth6")]


# ---- L3 -----------------------------------------------------------------------------------

UPLINK = loop("up", "10.1.0.1/24", vrf=1)
ROUTE_A = Route(vrf=1, dst="10.9.0.0/16", next_hop="10.1.0.2", out_interface="up")
ROUTE_B = Route(vrf=1, dst="10.9.0.0/16", next_hop="10.1.0.3", out_interface="up")
ROUTE_INTER = Route(vrf=2, dst="0.0.0.0/0", next_hop_vrf=1)
ROUTE_DROP = Route(vrf=2, dst="0.0.0.0/0", drop=True)  # same key as ROUTE_INTER
ROUTE_RECURSIVE = Route(vrf=1, dst="10.8.0.0/16", next_hop="10.1.0.9")
# A service frontend without endpoints: ICMP unreachable (path type 5), then a drop (2).
ROUTE_REJECT = Route(vrf=2, dst="198.51.100.7/32", unreachable=True)
ROUTE_REJECT_DROP = Route(vrf=2, dst="198.51.100.7/32", drop=True)  # same key


def routes(v: View) -> dict[tuple[int, str], list[tuple[Any, ...]]]:
    return {
        (r["table_id"], r["prefix"]): [
            (p["type"], p["sw_if_index"], p["table_id"], p["nh"]) for p in r["paths"]
        ]
        for r in v["ip"]["routes"]
    }


def route_first(v: View) -> None:
    assert routes(v) == {
        (1, "10.9.0.0/16"): [(0, "up", 1, "10.1.0.2"), (0, "up", 1, "10.1.0.3")],
        (2, "0.0.0.0/0"): [(0, "-", 1, "0.0.0.0")],
    }


def route_second(v: View) -> None:
    assert routes(v) == {
        (1, "10.9.0.0/16"): [(0, "up", 1, "10.1.0.2")],
        (1, "10.8.0.0/16"): [(0, "-", 1, "10.1.0.9")],
        (2, "0.0.0.0/0"): [(2, "-", 2, "0.0.0.0")],
    }


def neighbors(v: View) -> list[tuple[str, str, str, int]]:
    return [(n["sw_if_index"], n["ip"], n["mac"], n["flags"]) for n in v["ip"]["neighbors"]]


# ---- L2 -----------------------------------------------------------------------------------

BVI = loop("bvi", "192.168.30.1/24", mac="12:2b:00:00:00:01")
VXA = Interface(name="vxa", kind="vxlan", vxlan=VxlanLink("192.168.16.1", "192.168.16.2", 10))
VXB = Interface(name="vxb", kind="vxlan", vxlan=VxlanLink("192.168.16.1", "192.168.16.3", 10))
BD_1 = BridgeDomain(
    name="vxlanBD",
    bd_id=10,
    members=(BridgeDomainMember("bvi", bvi=True), BridgeDomainMember("vxa", split_horizon_group=1)),
)
BD_2 = attrs.evolve(
    BD_1,
    members=(
        BridgeDomainMember("bvi", bvi=True),
        BridgeDomainMember("vxa", split_horizon_group=2),
        BridgeDomainMember("vxb", split_horizon_group=1),
    ),
)


def bd_view(v: View) -> tuple[Any, ...]:
    (bd,) = v["l2"]["bridge_domains"]
    members = sorted((m["sw_if_index"], m["port_type"], m["shg"]) for m in bd["members"])
    return (bd["bd_id"], bd["tag"], bd["flood"], bd["learn"], bd["forward"], members)


def bd_first(v: View) -> None:
    assert bd_view(v) == (10, "vxlanBD", False, False, True, [("bvi", 1, 0), ("vxa", 0, 1)])


def bd_second(v: View) -> None:
    assert bd_view(v)[-1] == [("bvi", 1, 0), ("vxa", 0, 2), ("vxb", 0, 1)]


BD_BOTH = attrs.evolve(
    BD_1, members=(*BD_1.members, BridgeDomainMember("vxb", split_horizon_group=1))
)
FIB_1 = L2FibEntry("vxlanBD", 10, "12:2b:00:00:00:02", "vxa")
FIB_2 = attrs.evolve(FIB_1, interface="vxb")


def fib(v: View) -> list[tuple[Any, ...]]:
    return [(e["bd_id"], e["mac"], e["sw_if_index"], e["static"]) for e in v["l2"]["fib"]]


# ---- NAT44 --------------------------------------------------------------------------------

NAT = Nat44Global(forwarding=True)
NAT_IF_A = Nat44Interface("nat-a", inside=True, outside=True)
NAT_IF_B = Nat44Interface("nat-b", output=True)
POOL_SNAT = Nat44AddressPool("80.0.0.1", "80.0.0.3")
POOL_TWICE = Nat44AddressPool("10.99.0.1", vrf=0, twice_nat=True)
STATIC_PORTS = Nat44StaticMapping(
    local_ip="10.1.1.2",
    external_ip="10.96.0.10",
    protocol="tcp",
    local_port=8080,
    external_port=80,
    vrf=1,
    twice_nat="self",
    label="default/web",
)
STATIC_ADDR = Nat44StaticMapping(local_ip="10.1.1.3", external_ip="80.1.1.3", out2in_only=False)
STATIC_IF = Nat44StaticMapping(
    local_ip="10.1.1.4",
    external_interface="nat-a",
    protocol="udp",
    local_port=53,
    external_port=30053,
    vrf=1,
)
LB_1 = Nat44LbStaticMapping(
    external_ip="10.96.0.20",
    external_port=443,
    protocol="tcp",
    locals=(Nat44LbLocal("10.1.1.5", 8443, vrf=1), Nat44LbLocal("10.1.2.5", 8443, 2, 1)),
    twice_nat="enabled",
    affinity=180,
    label="default/api",
)
LB_2 = attrs.evolve(
    LB_1, locals=(Nat44LbLocal("10.1.2.5", 8443, 2, 1), Nat44LbLocal("10.1.3.5", 8443, vrf=1))
)
IDENT_ADDR = Nat44IdentityMapping(ip="192.168.16.1", vrf=1, label="node")
IDENT_IF = Nat44IdentityMapping(interface="nat-a", protocol="udp", port=4789)


def nat_view(v: View) -> View:
    return v["nat"]


# ---- ACL ----------------------------------------------------------------------------------

RULES_1 = (
    AclRule("permit", src_network="10.1.0.0/16", protocol="tcp", dst_ports=PortRange(80, 80)),
    AclRule("deny", dst_network="::/0"),
    AclRule("reflect", protocol=132),
)
ACL_1 = Acl("contiv-policy-1", RULES_1)
ACL_2 = Acl("contiv-policy-1", (AclRule("deny", src_network="10.2.0.0/16"),))
ACL_R = Acl("contiv-policy-REFLECTION", (AclRule("reflect"),))


def acl_rules(v: View, name: str) -> list[tuple[Any, ...]]:
    return [
        (r["is_permit"], r["src"], r["dst"], r["proto"], r["sport"], r["dport"])
        for r in v["acl"]["acls"][name]
    ]


CASES = [
    Case(
        "vrf",
        {},
        _values(VrfTable(5, "blue")),
        _values(VrfTable(5, "green")),
        lambda v: assert_in({"table_id": 5, "is_ip6": False, "name": "blue"}, v["ip"]["tables"]),
        lambda v: assert_in({"table_id": 5, "is_ip6": False, "name": "green"}, v["ip"]["tables"]),
        recreated=(keys.vrf(5),),
    ),
    Case(
        "loopback+addresses",
        _values(VrfTable(7)),
        _values(LOOP_1),
        _values(LOOP_2),
        loop_first,
        loop_second,
        updated=(keys.interface("loop-a"),),
    ),
    Case(
        "tap+unnumbered",
        _values(VrfTable(1), GW),
        _values(TAP_1),
        _values(TAP_2),
        tap_first,
        tap_second,
        updated=(keys.interface("tap-pod1"),),
    ),
    Case(
        "vxlan",
        _values(VrfTable(3)),
        _values(VX_1),
        _values(VX_2),
        vxlan_first,
        vxlan_second,
        updated=(keys.interface("vx1"),),
    ),
    Case(
        "af_packet",
        {},
        _values(HOST_1),
        _values(HOST_2),
        host_first,
        host_second,
        updated=(keys.interface("uplink"),),
    ),
    Case(
        "af_packet-other-nic",
        {},
        _values(HOST_1),
        _values(HOST_OTHER_NIC),
        host_first,
        host_other_nic,
        recreated=(keys.interface("uplink"),),
    ),
    Case(
        "route",
        _values(VrfTable(1), VrfTable(2), UPLINK),
        _values(ROUTE_A, ROUTE_B, ROUTE_INTER),
        _values(ROUTE_A, ROUTE_DROP, ROUTE_RECURSIVE),
        route_first,
        route_second,
        recreated=(keys.route(2, "0.0.0.0/0", "", ""),),
    ),
    Case(
        "route-unreachable",
        _values(VrfTable(2)),
        _values(ROUTE_REJECT),
        _values(ROUTE_REJECT_DROP),
        lambda v: assert_eq(routes(v), {(2, "198.51.100.7/32"): [(5, "-", 2, "0.0.0.0")]}),
        lambda v: assert_eq(routes(v), {(2, "198.51.100.7/32"): [(2, "-", 2, "0.0.0.0")]}),
        recreated=(keys.route(2, "198.51.100.7/32", "", ""),),
    ),
    Case(
        "neighbor",
        _values(UPLINK, VrfTable(1)),
        _values(Neighbor("up", "10.1.0.5", "02:00:00:00:00:05")),
        _values(Neighbor("up", "10.1.0.5", "02:00:00:00:00:06")),
        lambda v: assert_eq(neighbors(v), [("up", "10.1.0.5", "02:00:00:00:00:05", 1)]),
        lambda v: assert_eq(neighbors(v), [("up", "10.1.0.5", "02:00:00:00:00:06", 1)]),
        updated=(keys.neighbor("up", "10.1.0.5"),),
    ),
    Case(
        "bridge-domain+members",
        _values(BVI, VXA, VXB),
        _values(BD_1),
        _values(BD_2),
        bd_first,
        bd_second,
        updated=(keys.bridge_domain("vxlanBD"), keys.bridge_domain_interface("vxlanBD", "vxa")),
    ),
    Case(
        "l2fib",
        _values(BVI, VXA, VXB, BD_BOTH),
        _values(FIB_1),
        _values(FIB_2),
        lambda v: assert_eq(fib(v), [(10, "12:2b:00:00:00:02", "vxa", True)]),
        lambda v: assert_eq(fib(v), [(10, "12:2b:00:00:00:02", "vxb", True)]),
        updated=(keys.l2fib("vxlanBD", "12:2b:00:00:00:02"),),
    ),
    Case(
        "nat44-global",
        {},
        _values(NAT),
        _values(Nat44Global()),
        lambda v: assert_eq((v["nat"]["enabled"], v["nat"]["forwarding"]), (True, True)),
        lambda v: assert_eq((v["nat"]["enabled"], v["nat"]["forwarding"]), (True, False)),
        updated=(keys.nat44_global(),),
    ),
    Case(
        "nat44-interface",
        _values(NAT, loop("nat-a"), loop("nat-b")),
        _values(NAT_IF_A, NAT_IF_B),
        _values(Nat44Interface("nat-a", inside=True), Nat44Interface("nat-b", outside=True)),
        lambda v: assert_eq(
            (v["nat"]["interfaces"], v["nat"]["output_interfaces"]), ({"nat-a": 0x30}, ["nat-b"])
        ),
        lambda v: assert_eq(
            (v["nat"]["interfaces"], v["nat"]["output_interfaces"]),
            ({"nat-a": 0x20, "nat-b": 0x10}, []),
        ),
        updated=(keys.nat44_interface("nat-a"), keys.nat44_interface("nat-b")),
    ),
    Case(
        "nat44-address-pool",
        _values(NAT),
        _values(POOL_SNAT, POOL_TWICE),
        _values(POOL_SNAT, attrs.evolve(POOL_TWICE, vrf=1)),
        lambda v: assert_eq(
            v["nat"]["addresses"],
            [
                {"address": "10.99.0.1", "twice_nat": True, "vrf_id": 0},
                {"address": "80.0.0.1", "twice_nat": False, "vrf_id": 0xFFFFFFFF},
                {"address": "80.0.0.2", "twice_nat": False, "vrf_id": 0xFFFFFFFF},
                {"address": "80.0.0.3", "twice_nat": False, "vrf_id": 0xFFFFFFFF},
            ],
        ),
        lambda v: assert_in(
            {"address": "10.99.0.1", "twice_nat": True, "vrf_id": 1}, v["nat"]["addresses"]
        ),
        recreated=(keys.nat44_address_pool("10.99.0.1", "", True),),
    ),
    Case(
        "nat44-static-mapping",
        _values(NAT, loop("nat-a", "80.2.2.2/24")),
        _values(STATIC_PORTS, STATIC_ADDR, STATIC_IF),
        _values(STATIC_ADDR, STATIC_IF, attrs.evolve(STATIC_PORTS, local_port=9090)),
        lambda v: assert_eq(
            sorted(
                (
                    m["external"],
                    m["external_port"],
                    m["local"],
                    m["local_port"],
                    m["flags"],
                    m["vrf_id"],
                    m["tag"],
                    m["external_sw_if_index"],
                )
                for m in v["nat"]["static_mappings"]
            ),
            [
                ("0.0.0.0", 30053, "10.1.1.4", 53, 0x04, 1, "", "nat-a"),
                ("10.96.0.10", 80, "10.1.1.2", 8080, 0x06, 1, "default/web", "-"),
                ("80.1.1.3", 0, "10.1.1.3", 0, 0x08, 0, "", "-"),
            ],
        ),
        lambda v: assert_in(9090, [m["local_port"] for m in v["nat"]["static_mappings"]]),
        recreated=(keys.nat44_static_mapping("10.96.0.10", "tcp", 80),),
    ),
    Case(
        "nat44-lb-mapping",
        _values(NAT),
        _values(LB_1),
        _values(LB_2),
        lambda v: assert_eq(
            [
                (
                    m["flags"],
                    m["affinity"],
                    m["tag"],
                    [(x["addr"], x["probability"]) for x in m["locals"]],
                )
                for m in v["nat"]["lb_mappings"]
            ],
            [(0x05, 180, "default/api", [("10.1.1.5", 1), ("10.1.2.5", 2)])],
        ),
        lambda v: assert_eq(
            [[(x["addr"], x["probability"]) for x in m["locals"]] for m in v["nat"]["lb_mappings"]],
            [[("10.1.2.5", 2), ("10.1.3.5", 1)]],
        ),
        updated=(keys.nat44_lb_static_mapping("10.96.0.20", "tcp", 443),),
    ),
    Case(
        "nat44-identity-mapping",
        _values(NAT, loop("nat-a", "80.2.2.2/24")),
        _values(IDENT_ADDR, IDENT_IF),
        _values(IDENT_IF, attrs.evolve(IDENT_ADDR, label="node-ip")),
        lambda v: assert_eq(
            sorted(
                (
                    str(m["address"]),
                    m["sw_if_index"],
                    m["protocol"],
                    m["port"],
                    m["vrf_id"],
                    m["flags"],
                    m["tag"],
                )
                for m in v["nat"]["identity_mappings"]
            ),
            [("192.168.16.1", "-", 0, 0, 1, 0x08, "node"), ("None", "nat-a", 17, 4789, 0, 0, "")],
        ),
        lambda v: assert_in("node-ip", [m["tag"] for m in v["nat"]["identity_mappings"]]),
        recreated=(keys.nat44_identity_mapping(1, "192.168.16.1", None, 0),),
    ),
    Case(
        "acl",
        {},
        _values(ACL_1),
        _values(ACL_2),
        lambda v: assert_eq(
            acl_rules(v, "contiv-policy-1"),
            [
                (1, "10.1.0.0/16", "0.0.0.0/0", 6, [0, 65535], [80, 80]),
                (0, "::/0", "::/0", 0, [0, 65535], [0, 65535]),
                (2, "0.0.0.0/0", "0.0.0.0/0", 132, [0, 65535], [0, 65535]),
            ],
        ),
        lambda v: assert_eq(
            acl_rules(v, "contiv-policy-1"),
            [(0, "10.2.0.0/16", "0.0.0.0/0", 0, [0, 65535], [0, 65535])],
        ),
        updated=(keys.acl("contiv-policy-1"),),
    ),
    Case(
        "acl-interface",
        _values(ACL_1, ACL_R, loop("pod-if")),
        _values(
            AclInterface(
                "pod-if", ingress=("contiv-policy-REFLECTION",), egress=("contiv-policy-1",)
            )
        ),
        _values(AclInterface("pod-if", ingress=("contiv-policy-1", "contiv-policy-REFLECTION"))),
        lambda v: assert_eq(
            v["acl"]["interfaces"],
            {"pod-if": {"input": ["contiv-policy-REFLECTION"], "output": ["contiv-policy-1"]}},
        ),
        lambda v: assert_eq(
            v["acl"]["interfaces"],
            {"pod-if": {"input": ["contiv-policy-1", "contiv-policy-REFLECTION"], "output": []}},
        ),
        updated=(keys.acl_interface("pod-if"),),
    ),
]


def assert_eq(actual: object, expected: object) -> None:
    assert actual == expected


def assert_in(item: object, collection: Any) -> None:
    assert item in collection, collection


def ops(record: TxnRecord, key: Key) -> list[tuple[Operation, bool]]:
    return [(op.op, op.recreate) for op in record.executed if op.key == key]


async def read_back(descriptors: list[AnyDescriptor], values: dict[Key, object]) -> None:
    """Each value's descriptor reads it back: equivalent uncorrelated, identical correlated."""
    for key, value in values.items():
        descriptor = descriptor_for(descriptors, key)
        blind = {item.key: item for item in await descriptor.retrieve([])}
        assert key in blind, f"{key} not read back by {descriptor.name}"
        assert descriptor.equivalent(key, blind[key].value, value), (blind[key].value, value)
        believed = {item.key: item for item in await descriptor.retrieve([Correlated(key, value)])}
        assert believed[key].value == value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_lifecycle(
    case: Case, sim: SimHandle, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    ours = macs_in([*case.setup.values(), *case.first.values(), *case.second.values()])

    def view() -> View:
        return by_names(sim.state(), ours)

    pristine = view()
    await commit_ok(sched, case.setup)
    base = view()

    record = await commit_ok(sched, case.first)
    assert {op.key for op in record.executed if op.op is Operation.CREATE} >= case.first.keys()
    case.check_first(view())
    await read_back(descriptors, case.first)
    resync = await sched.resync(ResyncKind.FULL, desired={**case.setup, **case.first}, trigger="t")
    assert (resync.ok, resync.calls, dict(resync.retrieve_errors)) == (True, 0, {})

    delta: dict[Key, object | None] = {k: None for k in case.first if k not in case.second}
    record = await commit_ok(sched, {**delta, **case.second})
    case.check_second(view())
    for key in case.updated:
        assert ops(record, key) == [(Operation.UPDATE, False)], record.executed
    for key in case.recreated:
        assert ops(record, key) == [(Operation.DELETE, True), (Operation.CREATE, True)]
    await read_back(descriptors, case.second)
    resync = await sched.resync(ResyncKind.FULL, desired={**case.setup, **case.second}, trigger="t")
    assert (resync.ok, resync.calls) == (True, 0)

    await commit_ok(sched, dict.fromkeys(case.second))
    assert view() == base
    await commit_ok(sched, dict.fromkeys(case.setup))
    assert view() == pristine


async def test_tap_gateway_is_kept_from_the_believed_value(
    sim: SimHandle, descriptors: list[AnyDescriptor], sched: Scheduler
) -> None:
    """VPP does not report a TAP's host gateway: a read with the believed value keeps it (no
    drift, no recreate), a blind read (agent restarted) cannot know it."""
    assert TAP_1.tap is not None
    tap = attrs.evolve(TAP_1, tap=attrs.evolve(TAP_1.tap, host_ip4_gw="10.1.1.1"))
    values = _values(VrfTable(1), GW, tap)
    await commit_ok(sched, values)
    key = keys.interface(tap.name)
    interfaces = descriptor_for(descriptors, key)
    (believed,) = [r for r in await interfaces.retrieve([Correlated(key, tap)]) if r.key == key]
    assert believed.value == tap
    (blind,) = [r for r in await interfaces.retrieve([]) if r.key == key]
    assert blind.value == attrs.evolve(tap, tap=attrs.evolve(tap.tap, host_ip4_gw=""))
    resync = await sched.resync(ResyncKind.FULL, desired=values, trigger="t")
    assert (resync.ok, resync.calls) == (True, 0)


async def test_changes_vpp_cannot_make_in_place_recreate_with_dependents(
    sim: SimHandle, sched: Scheduler
) -> None:
    """A VRF change (VPP refuses it while addresses exist) and a TAP MTU change (its Linux end
    is sized at creation) recreate the interface; addresses, routes and unnumbered borrowers
    come back with it."""
    tap = attrs.evolve(TAP_1, vrf=7, unnumbered_to="loop-a")
    route = Route(vrf=7, dst="10.9.0.0/16", next_hop="10.7.0.9", out_interface="loop-a")
    await commit_ok(sched, _values(VrfTable(7), VrfTable(8), LOOP_1, tap, route))

    moved = {
        **_values(attrs.evolve(LOOP_1, vrf=8), attrs.evolve(route, vrf=8)),
        keys.route(7, route.dst, route.next_hop, route.out_interface): None,
    }
    record = await commit_ok(sched, moved)
    loop_key, tap_key = keys.interface("loop-a"), keys.interface("tap-pod1")
    assert ops(record, loop_key) == [(Operation.DELETE, True), (Operation.CREATE, True)]
    v = by_names(sim.state(), macs_in([LOOP_1, tap]))
    assert {"sw_if_index": "loop-a", "is_ip6": False, "table_id": 8} in v["ip"]["bindings"]
    assert v["ip"]["addresses"]["loop-a"] == ["10.7.0.1/24", "10.7.1.1/24"]
    assert v["ip"]["unnumbered"] == {"tap-pod1": "loop-a"}
    assert routes(v) == {(8, "10.9.0.0/16"): [(0, "loop-a", 8, "10.7.0.9")]}

    record = await commit_ok(sched, _values(attrs.evolve(tap, mtu=9000)))
    assert ops(record, tap_key) == [(Operation.DELETE, True), (Operation.CREATE, True)]
    v = by_names(sim.state(), macs_in([LOOP_1, tap]))
    assert (iface(v, "tap-pod1")["link_mtu"], v["taps"][0]["host_mtu_size"]) == (9000, 9000)
    assert v["ip"]["unnumbered"] == {"tap-pod1": "loop-a"}
