"""Every VPP descriptor's dependencies and derived keys, pinned against literal keys.

Issue 14: dropping the ACL dependencies of ``acl_interface`` passed the whole suite, because no
test looked at what a value waits for. The expected keys below are written out by hand from
docs/vpp.md ("Dependencies"), never built with ``model.keys``, so a descriptor that forgets a
dependency, or names it differently from the value that provides it, fails here. Every
descriptor ``vpp_descriptors`` returns must have a row.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import pytest
from vpp_fakes import recording_client

from contivpp.model.acl import Acl, AclInterface, AclRule
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
    BridgeDomain,
    BridgeDomainInterface,
    BridgeDomainMember,
    Interface,
    InterfaceAddress,
    L2FibEntry,
    Neighbor,
    Route,
    TapLink,
    Unnumbered,
    VrfTable,
    VxlanLink,
)
from contivpp.reconcile import AnyDescriptor, Dependency, Key
from contivpp.vpp.descriptors import vpp_descriptors

PLUGIN = "vpp/nat44/global"
LB = Nat44LbStaticMapping(
    "10.96.0.10", 80, "tcp", (Nat44LbLocal("10.1.1.2", 8080), Nat44LbLocal("10.1.1.3", 8080))
)
BVI = BridgeDomainMember("vxlanBVI", bvi=True)

#: (case, value, dependencies, derived keys). A dependency is its exact key, or
#: "any of <prefixes>" / "selected in <scope>" for any-of dependencies.
CASES: list[tuple[str, object, set[str], set[str]]] = [
    ("vrf", VrfTable(1, "pods"), set(), set()),
    ("interface in vrf 0", Interface("lo", "loopback"), set(), set()),
    (
        "interface in vrf 1 with addresses",
        Interface("tap1", "tap", vrf=1, ip_addresses=("10.1.1.1/32",), tap=TapLink("eth0")),
        {"vpp/vrf/1"},
        {"vpp/address/tap1/10.1.1.1/32"},
    ),
    (
        "vxlan with an encapsulation vrf",
        Interface("vxlan2", "vxlan", vxlan=VxlanLink("192.168.16.1", "192.168.16.2", 10, 5)),
        {"vpp/vrf/5"},
        set(),
    ),
    (
        "unnumbered interface",
        Interface("tap2", "tap", vrf=1, unnumbered_to="loopbackNIC", tap=TapLink("eth0")),
        {"vpp/vrf/1"},
        {"vpp/unnumbered/tap2"},
    ),
    ("address", InterfaceAddress("tap1", "10.1.1.1/32"), set(), set()),
    ("unnumbered", Unnumbered("tap2", "loopbackNIC"), {"vpp/interface/loopbackNIC"}, set()),
    (
        "route via an interface",
        Route(vrf=1, dst="10.1.2.0/24", next_hop="192.168.30.2", out_interface="vxlanBVI"),
        {"vpp/vrf/1", "vpp/interface/vxlanBVI"},
        set(),
    ),
    (
        "inter-vrf route",
        Route(vrf=1, dst="0.0.0.0/0", next_hop="192.168.16.100", next_hop_vrf=2),
        {"vpp/vrf/1", "vpp/vrf/2"},
        set(),
    ),
    ("drop route in vrf 0", Route(vrf=0, dst="10.96.0.0/12", drop=True), set(), set()),
    (
        "neighbor",
        Neighbor("vxlanBVI", "192.168.30.2", "12:2b:00:00:00:02"),
        {"vpp/interface/vxlanBVI"},
        set(),
    ),
    (
        "bridge domain",
        BridgeDomain("vxlanBD", 1, members=(BVI, BridgeDomainMember("vxlan2", False, 1))),
        set(),
        {"vpp/bd-interface/vxlanBD/vxlanBVI", "vpp/bd-interface/vxlanBD/vxlan2"},
    ),
    (
        "bridge domain member",
        BridgeDomainInterface("vxlanBD", 1, BVI),
        {"vpp/interface/vxlanBVI"},
        set(),
    ),
    (
        "l2fib entry",
        L2FibEntry("vxlanBD", 1, "12:2b:00:00:00:02", "vxlan2"),
        {"vpp/bd-interface/vxlanBD/vxlan2"},
        set(),
    ),
    ("nat plugin", Nat44Global(forwarding=True), set(), set()),
    (
        "nat interface",
        Nat44Interface("tap-vpp2", inside=True),
        {PLUGIN, "vpp/interface/tap-vpp2"},
        set(),
    ),
    ("nat pool", Nat44AddressPool("192.168.16.1"), {PLUGIN}, set()),
    (
        "static mapping",
        Nat44StaticMapping("10.1.1.4", "10.96.0.20", protocol="tcp", local_port=5432),
        {PLUGIN},
        set(),
    ),
    (
        "static mapping on an interface address",
        Nat44StaticMapping("10.1.1.4", external_interface="loopbackNIC", protocol="tcp"),
        {PLUGIN, "vpp/interface/loopbackNIC"},
        set(),
    ),
    ("lb mapping, out2in only", LB, {PLUGIN}, set()),
    (
        "lb mapping from the pool",
        Nat44LbStaticMapping("10.96.0.10", 80, "tcp", LB.locals, out2in_only=False),
        {PLUGIN, "selected in vpp/nat44/address-pool/snat/"},
        set(),
    ),
    ("identity mapping", Nat44IdentityMapping(ip="192.168.16.1", vrf=1), {PLUGIN}, set()),
    (
        "identity mapping of an interface",
        Nat44IdentityMapping(interface="loopbackNIC", protocol="udp", port=4789),
        {PLUGIN, "vpp/interface/loopbackNIC"},
        set(),
    ),
    ("acl", Acl("contiv-policy-1", (AclRule("deny"),)), set(), set()),
    (
        "acl binding",
        AclInterface("tap-1", ingress=("reflect",), egress=("policy-1", "reflect")),
        {"vpp/interface/tap-1", "vpp/acl/reflect", "vpp/acl/policy-1"},
        set(),
    ),
]


def descriptor_of(descriptors: list[AnyDescriptor], value: object) -> AnyDescriptor:
    """The descriptor of the value's type (its ``VppDescriptor[V, M]`` base names V)."""
    for descriptor in descriptors:
        for base in getattr(type(descriptor), "__orig_bases__", ()):
            if typing.get_args(base)[:1] == (type(value),):
                return descriptor
    raise AssertionError(f"no descriptor takes {value!r}")


def shown(dep: Dependency) -> str:
    if dep.key is not None:
        return dep.key
    if dep.any_of_selector is not None:
        return f"selected in {dep.selector_scope}"
    return f"any of {' '.join(dep.any_of_prefixes)}"


@pytest.mark.parametrize(
    ("value", "dependencies", "derived"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_dependencies_and_derived_keys(
    value: object, dependencies: set[str], derived: set[str]
) -> None:
    client, recorder = recording_client()
    descriptor = descriptor_of(vpp_descriptors(client), value)
    key = descriptor.key_of(value)  # type: ignore[attr-defined]
    descriptor.validate(key, value)  # the cases are valid values, so this is what a commit sees
    assert {shown(d) for d in descriptor.dependencies(key, value)} == dependencies
    assert {kv.key for kv in descriptor.derived_values(key, value)} == derived
    assert recorder.calls == []  # all of this is pure


def test_every_descriptor_has_a_case() -> None:
    client, _ = recording_client()
    descriptors = vpp_descriptors(client)
    covered = {descriptor_of(descriptors, case[1]).name for case in CASES}
    assert covered == {d.name for d in descriptors}


@pytest.mark.parametrize(
    ("pool", "provides"),
    [
        ("vpp/nat44/address-pool/snat/10.96.0.1-10.96.0.250", True),
        ("vpp/nat44/address-pool/snat/10.96.0.10-10.96.0.10", True),
        ("vpp/nat44/address-pool/snat/10.96.0.11-10.96.0.20", False),
        ("vpp/nat44/address-pool/twice-nat/10.96.0.1-10.96.0.250", False),
    ],
)
def test_lb_mapping_pool_selector(pool: str, provides: bool) -> None:
    client, _ = recording_client()
    value = Nat44LbStaticMapping("10.96.0.10", 80, "tcp", LB.locals, out2in_only=False)
    descriptor = descriptor_of(vpp_descriptors(client), value)
    (selected,) = [
        d
        for d in descriptor.dependencies(Key("vpp/nat44/lb-mapping/10.96.0.10/tcp/80"), value)
        if d.any_of_selector is not None
    ]
    select: Callable[[Key], bool] = selected.any_of_selector  # type: ignore[assignment]
    assert select(Key(pool)) is provides
