"""A plain, frozen picture of one VPP's forwarding state, read over the binary API only.

The forwarding model (:mod:`.forward`) must explain a real VPP as well as the simulator, so it
never looks at simulator internals or at the agent's desired set: everything it needs is in
this snapshot, and :func:`read_snapshot` fills it from the same dump messages the descriptors
use for retrieve (``sw_interface_dump``, ``ip_route_v2_dump``, ``acl_dump``, ...). Objects are
kept by VPP's own identifiers (sw_if_index, acl_index, bd_id), not by the agent's names, so
untagged objects a human created by hand are part of the picture too. Tests build snapshots by
hand with the same classes.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Mapping

import attrs

from contivpp.errors import VPPApiError
from contivpp.model.acl import AclRule

# A pool address as the forwarding model reads it: one address per dump entry.
from contivpp.model.nat import Nat44AddressPool as NatPool
from contivpp.vpp import retvals as rv
from contivpp.vpp.client import Message, VPPClient
from contivpp.vpp.descriptors import loopback, nat44
from contivpp.vpp.descriptors.acl import decode_rule

NO_INDEX = 0xFFFFFFFF
#: ``nat_config_flags`` bit VPP sets on sessions created by a static or LB mapping.
IS_STATIC_SESSION = 0x40

#: fib_types.api ``fib_path_type`` (v26.06) -> the model's path kinds.
PATH_KINDS = {
    0: "normal",
    1: "local",
    2: "drop",
    5: "icmp-unreachable",
    6: "icmp-prohibit",
}
#: ``ip_route_v2_details.src`` (fib_source.h) -> a name for the trace output.
FIB_SOURCES = {1: "special", 4: "interface", 8: "api", 20: "default-route"}


@attrs.frozen
class InterfaceState:
    sw_if_index: int
    name: str  # the VPP tag when set (the agent's logical name), else VPP's interface name
    kind: str = "other"  # tap | af_packet | vxlan | loopback | other
    vrf: int = 0
    enabled: bool = True
    mac: str = ""
    #: CIDRs configured on the interface itself (an unnumbered one has none of its own).
    addresses: tuple[str, ...] = ()
    unnumbered_to: int | None = None  # the donor's sw_if_index
    #: The Linux end of a TAP (its netns and name), the Linux interface of a host-interface
    #: (af_packet: VPP's own netns, ""), "" otherwise.
    host_namespace: str = ""
    host_if_name: str = ""
    vxlan_src: str = ""
    vxlan_dst: str = ""
    vxlan_vni: int = 0
    vxlan_encap_vrf: int = 0


@attrs.frozen
class FibPath:
    """One path of a FIB entry.

    ``kind`` is normal / local / drop / icmp-unreachable / icmp-prohibit. A normal path goes
    out ``sw_if_index`` (to ``next_hop``, or to the destination itself when "" = attached), or,
    without an interface, resolves ``next_hop`` in ``table`` (recursive) or looks the
    destination up again in ``table`` (no next hop: an inter-VRF "lookup-in-table" path).
    """

    kind: str = "normal"
    sw_if_index: int | None = None
    next_hop: str = ""
    table: int = 0
    weight: int = 1
    preference: int = 0


@attrs.frozen
class FibEntry:
    vrf: int
    prefix: str
    paths: tuple[FibPath, ...]
    source: str = "api"


@attrs.frozen
class NeighborEntry:
    sw_if_index: int
    ip: str
    mac: str
    static: bool = True


@attrs.frozen
class AclState:
    acl_index: int
    tag: str
    rules: tuple[AclRule, ...]


@attrs.frozen
class AclBinding:
    """The ordered ACL lists of one interface (acl_index values)."""

    sw_if_index: int
    input: tuple[int, ...] = ()
    output: tuple[int, ...] = ()


@attrs.frozen
class NatInterface:
    sw_if_index: int
    inside: bool = False
    outside: bool = False
    output: bool = False  # output feature (post-routing in2out)


@attrs.frozen
class NatStaticMapping:
    """A static or identity mapping, as ``nat44_*_mapping_dump`` reports it."""

    local_ip: str
    external_ip: str
    protocol: int = 0  # 0 = address-only
    local_port: int = 0
    external_port: int = 0
    vrf: int = 0
    twice_nat: str = "disabled"  # disabled | enabled | self
    out2in_only: bool = False
    identity: bool = False
    tag: str = ""


@attrs.frozen
class NatLbLocal:
    ip: str
    port: int
    probability: int = 1
    vrf: int = 0


@attrs.frozen
class NatLbMapping:
    external_ip: str
    external_port: int
    protocol: int
    locals: tuple[NatLbLocal, ...]
    twice_nat: str = "disabled"
    out2in_only: bool = False
    affinity: int = 0
    tag: str = ""


@attrs.frozen
class NatSession:
    """A NAT44-ED session VPP holds (``nat44_user_session_v3_details``): the inside end, the
    outside end it is known by, the remote host and, with twice-NAT, the address the remote
    host appears as on the inside."""

    protocol: int
    inside_ip: str
    inside_port: int
    outside_ip: str
    outside_port: int
    ext_host_ip: str
    ext_host_port: int
    inside_vrf: int = 0
    ext_host_nat_ip: str = ""  # "" without twice-NAT
    ext_host_nat_port: int = 0
    static: bool = False


@attrs.frozen
class NatState:
    enabled: bool = False
    forwarding: bool = False
    inside_vrf: int = 0
    outside_vrf: int = 0
    interfaces: tuple[NatInterface, ...] = ()
    pools: tuple[NatPool, ...] = ()
    static_mappings: tuple[NatStaticMapping, ...] = ()
    lb_mappings: tuple[NatLbMapping, ...] = ()
    sessions: tuple[NatSession, ...] = ()


@attrs.frozen
class BridgeDomainState:
    bd_id: int
    tag: str = ""
    members: tuple[int, ...] = ()
    bvi: int | None = None
    learn: bool = False
    flood: bool = False
    uu_flood: bool = False
    forward: bool = True


@attrs.frozen
class L2FibState:
    bd_id: int
    mac: str
    sw_if_index: int
    bvi: bool = False


@attrs.frozen(slots=False)  # cached_property indices below
class Snapshot:
    """One node's VPP, frozen. ``node`` names it in traces that cross nodes."""

    node: str = ""
    interfaces: tuple[InterfaceState, ...] = ()
    fib: tuple[FibEntry, ...] = ()
    neighbors: tuple[NeighborEntry, ...] = ()
    acls: tuple[AclState, ...] = ()
    acl_bindings: tuple[AclBinding, ...] = ()
    nat: NatState = NatState()
    bridge_domains: tuple[BridgeDomainState, ...] = ()
    l2fib: tuple[L2FibState, ...] = ()

    # Lookups the forwarding model makes per packet: indices built once per snapshot (the
    # snapshot is immutable, so a cached index can never go stale).

    @functools.cached_property
    def _by_index(self) -> dict[int, InterfaceState]:
        return {i.sw_if_index: i for i in self.interfaces}

    @functools.cached_property
    def _by_name(self) -> dict[str, InterfaceState]:
        return {i.name: i for i in reversed(self.interfaces)}

    @functools.cached_property
    def _fib_index(self) -> dict[int, list[tuple[int, dict[int, FibEntry]]]]:
        """vrf -> [(prefix length, network -> entry)], longest prefixes first."""
        tables: dict[int, dict[int, dict[int, FibEntry]]] = {}
        for entry in self.fib:
            net = ipaddress.IPv4Network(entry.prefix)
            by_len = tables.setdefault(entry.vrf, {}).setdefault(net.prefixlen, {})
            by_len[int(net.network_address)] = entry
        return {
            vrf: sorted(by_len.items(), key=lambda item: -item[0]) for vrf, by_len in tables.items()
        }

    @functools.cached_property
    def _neighbors(self) -> dict[tuple[int, str], str]:
        return {(n.sw_if_index, n.ip): n.mac for n in self.neighbors}

    @functools.cached_property
    def _bindings(self) -> dict[int, AclBinding]:
        return {b.sw_if_index: b for b in self.acl_bindings}

    @functools.cached_property
    def _acls(self) -> dict[int, AclState]:
        return {a.acl_index: a for a in self.acls}

    @functools.cached_property
    def _nat_roles(self) -> dict[int, NatInterface]:
        return {r.sw_if_index: r for r in self.nat.interfaces}

    @functools.cached_property
    def _l2fib(self) -> dict[tuple[int, str], L2FibState]:
        return {(e.bd_id, e.mac): e for e in self.l2fib}

    def interface(self, sw_if_index: int) -> InterfaceState | None:
        return self._by_index.get(sw_if_index)

    def interface_named(self, name: str) -> InterfaceState | None:
        return self._by_name.get(name)

    def entries(self, vrf: int) -> tuple[FibEntry, ...]:
        return tuple(e for e in self.fib if e.vrf == vrf)

    def lookup(self, vrf: int, dst: str) -> FibEntry | None:
        """The longest prefix of ``vrf`` containing ``dst`` (``ip4_fib_forwarding_lookup``)."""
        address = ip4_int(dst)
        for length, networks in self._fib_index.get(vrf, ()):
            entry = networks.get(address & _MASKS[length])
            if entry is not None:
                return entry
        return None

    def neighbor(self, sw_if_index: int, ip: str) -> str:
        """The MAC of ``ip`` on the interface, "" when VPP has no entry."""
        return self._neighbors.get((sw_if_index, ip), "")

    def acl_binding(self, sw_if_index: int) -> AclBinding | None:
        return self._bindings.get(sw_if_index)

    def acl(self, acl_index: int) -> AclState | None:
        return self._acls.get(acl_index)

    def nat_role(self, sw_if_index: int) -> NatInterface | None:
        return self._nat_roles.get(sw_if_index)

    def l2_entry(self, bd_id: int, mac: str) -> L2FibState | None:
        return self._l2fib.get((bd_id, mac))


_MASKS = [(0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF for n in range(33)]


@functools.lru_cache(maxsize=65536)
def ip4_int(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


# ---- reading a live VPP ----------------------------------------------------------------------


async def read_snapshot(client: VPPClient, node: str = "") -> Snapshot:
    """Dump everything the forwarding model reads from the VPP behind ``client``."""
    details, taps, packets, tunnels, borrowed, tables = await asyncio.gather(
        client.dump("sw_interface_dump", sw_if_index=NO_INDEX),
        client.dump("sw_interface_tap_v2_dump", sw_if_index=NO_INDEX),
        client.dump("af_packet_dump"),
        client.dump("vxlan_tunnel_v2_dump", sw_if_index=NO_INDEX),
        client.dump("ip_unnumbered_dump", sw_if_index=NO_INDEX),
        client.dump("ip_table_dump"),
    )
    vrfs = sorted({int(t.table["table_id"]) for t in tables if not t.table["is_ip6"]})
    interfaces = await _interfaces(client, details, taps, packets, tunnels, borrowed)
    fib, neighbors, (acls, bindings), nat, (domains, l2fib) = await asyncio.gather(
        _fib(client, vrfs),
        client.dump("ip_neighbor_dump", sw_if_index=NO_INDEX, af=0),
        _acls(client),
        _nat(client, interfaces),
        _l2(client),
    )
    return Snapshot(
        node=node,
        interfaces=interfaces,
        fib=fib,
        neighbors=tuple(
            NeighborEntry(
                int(n.neighbor["sw_if_index"]),
                str(n.neighbor["ip_address"]),
                str(n.neighbor["mac_address"]),
                static=bool(n.neighbor["flags"] & 1),
            )
            for n in neighbors
        ),
        acls=acls,
        acl_bindings=bindings,
        nat=nat,
        bridge_domains=domains,
        l2fib=l2fib,
    )


async def _interfaces(
    client: VPPClient,
    details: list[Message],
    taps: list[Message],
    packets: list[Message],
    tunnels: list[Message],
    borrowed: list[Message],
) -> tuple[InterfaceState, ...]:
    tap_by = {int(t.sw_if_index): t for t in taps}
    packet_by = {int(p.sw_if_index): str(p.host_if_name) for p in packets}
    vxlan_by = {int(t.sw_if_index): t for t in tunnels}
    donors = {int(d.sw_if_index): int(d.ip_sw_if_index) for d in borrowed}

    async def layer3(index: int) -> tuple[int, list[Message]]:
        table, addresses = await asyncio.gather(
            client.call("sw_interface_get_table", sw_if_index=index, is_ipv6=False),
            client.dump("ip_address_dump", sw_if_index=index, is_ipv6=False),
        )
        return int(table.vrf_id), addresses

    l3 = await asyncio.gather(*(layer3(int(d.sw_if_index)) for d in details))
    out = []
    for d, (vrf, addresses) in zip(details, l3, strict=True):
        index = int(d.sw_if_index)
        tap, tunnel = tap_by.get(index), vxlan_by.get(index)
        kind = "tap" if tap else "vxlan" if tunnel else "other"
        if index in packet_by:
            kind = "af_packet"
        if kind == "other" and d.interface_dev_type == loopback.DEV_TYPE:
            kind = "loopback"
        donor = donors.get(index)
        out.append(
            InterfaceState(
                sw_if_index=index,
                name=d.tag or d.interface_name,
                kind=kind,
                vrf=vrf,
                enabled=bool(int(d.flags) & 1),
                mac=str(d.l2_address),
                # An unnumbered interface reports its donor's addresses, not its own.
                addresses=() if donor is not None else tuple(str(a.prefix) for a in addresses),
                unnumbered_to=donor,
                host_namespace=tap.host_namespace if tap else "",
                host_if_name=tap.host_if_name if tap else packet_by.get(index, ""),
                vxlan_src=str(tunnel.src_address) if tunnel else "",
                vxlan_dst=str(tunnel.dst_address) if tunnel else "",
                vxlan_vni=int(tunnel.vni) if tunnel else 0,
                vxlan_encap_vrf=int(tunnel.encap_vrf_id) if tunnel else 0,
            )
        )
    return tuple(out)


async def _fib(client: VPPClient, vrfs: list[int]) -> tuple[FibEntry, ...]:
    # src=0: every source, each prefix shown with its best source (what forwarding uses).
    dumps = await asyncio.gather(
        *(client.dump("ip_route_v2_dump", src=0, table={"table_id": v}) for v in vrfs)
    )
    entries = []
    for vrf, details in zip(vrfs, dumps, strict=True):
        for d in details:
            paths = tuple(p for p in map(_path, d.route["paths"]) if p is not None)
            source = FIB_SOURCES.get(int(d.route["src"]), "other")
            entries.append(FibEntry(vrf, str(d.route["prefix"]), paths, source))
    return tuple(entries)


def _path(p: Mapping[str, object]) -> FibPath | None:
    kind = PATH_KINDS.get(int(p["type"]))  # type: ignore[call-overload]
    if kind is None or p["proto"] != 0:
        return None  # kinds of path the model does not follow (MPLS, BIER, ...)
    nh = ipaddress.IPv4Address(p["nh"]["address"]["ip4"])  # type: ignore[index]
    index = int(p["sw_if_index"])  # type: ignore[call-overload]
    return FibPath(
        kind=kind,
        sw_if_index=None if index == NO_INDEX else index,
        next_hop="" if nh.is_unspecified else str(nh),
        table=int(p["table_id"]),  # type: ignore[call-overload]
        weight=int(p["weight"]) or 1,  # type: ignore[call-overload]
        preference=int(p["preference"]),  # type: ignore[call-overload]
    )


async def _acls(client: VPPClient) -> tuple[tuple[AclState, ...], tuple[AclBinding, ...]]:
    acls, lists = await asyncio.gather(
        client.dump("acl_dump", acl_index=NO_INDEX),
        client.dump("acl_interface_list_dump", sw_if_index=NO_INDEX),
    )
    bindings = []
    for d in lists:
        indices = tuple(int(i) for i in d.acls[: d.count])
        if indices:
            bindings.append(
                AclBinding(int(d.sw_if_index), indices[: d.n_input], indices[d.n_input :])
            )
    states = tuple(
        AclState(int(d.acl_index), d.tag, tuple(decode_rule(r) for r in d.r)) for d in acls
    )
    return states, tuple(bindings)


async def _nat(client: VPPClient, interfaces: tuple[InterfaceState, ...]) -> NatState:
    config = await client.call("nat44_show_running_config")
    if not config.sessions:  # the plugin reports a session limit only while enabled
        return NatState()
    features, outputs, pools, statics, identities, lbs = await asyncio.gather(
        client.dump("nat44_interface_dump"),
        client.dump("nat44_ed_output_interface_get"),
        client.dump("nat44_address_dump"),
        client.dump("nat44_static_mapping_dump"),
        client.dump("nat44_identity_mapping_dump"),
        client.dump("nat44_lb_static_mapping_dump"),
    )
    sessions = await _nat_sessions(client)
    roles: dict[int, NatInterface] = {}
    for d in features:
        flags = int(d.flags)
        roles[int(d.sw_if_index)] = NatInterface(
            int(d.sw_if_index),
            inside=bool(flags & nat44.IS_INSIDE),
            outside=bool(flags & nat44.IS_OUTSIDE),
        )
    for d in outputs:
        index = int(d.sw_if_index)
        roles[index] = attrs.evolve(roles.get(index, NatInterface(index)), output=True)
    mappings = [
        NatStaticMapping(
            local_ip=str(d.local_ip_address),
            external_ip=_address(interfaces, int(d.external_sw_if_index), d.external_ip_address),
            protocol=int(d.protocol),
            local_port=int(d.local_port),
            external_port=int(d.external_port),
            vrf=int(d.vrf_id),
            twice_nat=nat44.twice_nat_of(int(d.flags)),
            out2in_only=bool(int(d.flags) & nat44.OUT2IN_ONLY),
            tag=d.tag,
        )
        for d in statics
    ]
    mappings += [
        NatStaticMapping(
            local_ip=_address(interfaces, int(d.sw_if_index), d.ip_address),
            external_ip=_address(interfaces, int(d.sw_if_index), d.ip_address),
            protocol=int(d.protocol),
            local_port=int(d.port),
            external_port=int(d.port),
            vrf=int(d.vrf_id),
            identity=True,
            tag=d.tag,
        )
        for d in identities
    ]
    return NatState(
        enabled=True,
        forwarding=bool(config.forwarding_enabled),
        inside_vrf=int(config.inside_vrf),
        outside_vrf=int(config.outside_vrf),
        interfaces=tuple(roles[i] for i in sorted(roles)),
        pools=tuple(
            NatPool(
                str(d.ip_address),
                str(d.ip_address),
                None if int(d.vrf_id) == NO_INDEX else int(d.vrf_id),
                twice_nat=bool(int(d.flags) & nat44.TWICE_NAT),
            )
            for d in pools
        ),
        static_mappings=tuple(mappings),
        lb_mappings=tuple(
            NatLbMapping(
                external_ip=str(d.external_addr),
                external_port=int(d.external_port),
                protocol=int(d.protocol),
                locals=tuple(
                    NatLbLocal(
                        str(x["addr"]), int(x["port"]), int(x["probability"]), int(x["vrf_id"])
                    )
                    for x in d.locals
                ),
                twice_nat=nat44.twice_nat_of(int(d.flags)),
                out2in_only=bool(int(d.flags) & nat44.OUT2IN_ONLY),
                affinity=int(d.affinity),
                tag=d.tag,
            )
            for d in lbs
        ),
        sessions=sessions,
    )


async def _nat_sessions(client: VPPClient) -> tuple[NatSession, ...]:
    """Every session, user by user (VPP lists sessions per inside address and VRF)."""
    try:
        users = await client.dump("nat44_user_dump")
    except VPPApiError as exc:
        if exc.retval != rv.UNIMPLEMENTED:
            raise
        return ()  # a simulator without the session table: nothing to read
    per_user = await asyncio.gather(
        *(
            client.dump("nat44_user_session_v3_dump", ip_address=u.ip_address, vrf_id=u.vrf_id)
            for u in users
        )
    )
    return tuple(
        NatSession(
            protocol=int(d.protocol),
            inside_ip=str(d.inside_ip_address),
            inside_port=int(d.inside_port),
            outside_ip=str(d.outside_ip_address),
            outside_port=int(d.outside_port),
            ext_host_ip=str(d.ext_host_address),
            ext_host_port=int(d.ext_host_port),
            inside_vrf=int(u.vrf_id),
            ext_host_nat_ip=str(d.ext_host_nat_address) if int(d.flags) & nat44.TWICE_NAT else "",
            ext_host_nat_port=int(d.ext_host_nat_port) if int(d.flags) & nat44.TWICE_NAT else 0,
            static=bool(int(d.flags) & IS_STATIC_SESSION),
        )
        for u, details in zip(users, per_user, strict=True)
        for d in details
    )


def _address(interfaces: tuple[InterfaceState, ...], sw_if_index: int, given: object) -> str:
    """A mapping's address: the given one, or the first address of the interface it names
    (VPP resolves ``external_sw_if_index`` itself, also when the address comes later)."""
    if sw_if_index == NO_INDEX:
        return str(given)
    itf = next((i for i in interfaces if i.sw_if_index == sw_if_index), None)
    if itf is None or not itf.addresses:
        return "0.0.0.0"  # not resolved yet: matches nothing
    return itf.addresses[0].split("/")[0]


async def _l2(client: VPPClient) -> tuple[tuple[BridgeDomainState, ...], tuple[L2FibState, ...]]:
    domains, entries = await asyncio.gather(
        client.dump("bridge_domain_dump", bd_id=NO_INDEX, sw_if_index=NO_INDEX),
        client.dump("l2_fib_table_dump", bd_id=NO_INDEX),
    )
    return (
        tuple(
            BridgeDomainState(
                bd_id=int(d.bd_id),
                tag=d.bd_tag,
                members=tuple(int(m["sw_if_index"]) for m in d.sw_if_details),
                bvi=None if int(d.bvi_sw_if_index) == NO_INDEX else int(d.bvi_sw_if_index),
                learn=bool(d.learn),
                flood=bool(d.flood),
                uu_flood=bool(d.uu_flood),
                forward=bool(d.forward),
            )
            for d in domains
        ),
        tuple(
            L2FibState(int(e.bd_id), str(e.mac), int(e.sw_if_index), bool(e.bvi_mac))
            for e in entries
        ),
    )
