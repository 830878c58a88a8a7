"""Simulated IP layer: VRF tables, interface addresses / VRF / unnumbered, routes, neighbours,
proxy ARP.

Routes are kept per FIB source the way VPP shows them: the simulator stores only what the API
added and derives, at dump time, the entries VPP itself installs (special prefixes in every table,
connected / local / network / broadcast entries of interface addresses). A dump shows each
prefix's best source, so descriptors reading routes back face the same mix as against a real
VPP. Semantics follow VPP v26.06 (``ip_api.c``, ``fib_api.c``, ``ip4_forward.c``,
``ip_neighbor.c``, ``arp_proxy.c``); see ``vpp-socket-protocol.md`` section 11.2.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import (
    NO_INDEX,
    BadAddress,
    Fields,
    IPAddress,
    IPInterface,
    IPNetwork,
    Msg,
    address,
    encode_address,
    encode_prefix,
    mac_str,
    network,
)

if TYPE_CHECKING:
    from contivpp.vpp.sim.state import SimState

handlers = HandlerTable()

# fib_source.h (v26.06): enum values, reported in ip_route_v2_details.src.
SRC_SPECIAL = 1
SRC_INTERFACE = 4
SRC_API = 8
SRC_DEFAULT_ROUTE = 20
# Lower is preferred (fib_source.h priorities).
_PRIORITY = {SRC_SPECIAL: 0x00, SRC_INTERFACE: 0x03, SRC_API: 0x80, SRC_DEFAULT_ROUTE: 0xFD}

PATH_NORMAL = 0
PATH_LOCAL = 1
PATH_DROP = 2
PROTO_IP4 = 0
PROTO_IP6 = 1

NEIGHBOR_STATIC = 1

_NO_LABELS = ((0, 0, 0, 0),) * 16


@attrs.define
class Table:
    """One VRF (unicast + multicast, as VPP creates both)."""

    table_id: int
    is_ip6: bool
    name: str
    #: Who holds it: "api" (ip_table_add_del) and features such as "nat".
    locks: set[str] = attrs.field(factory=set)


@attrs.frozen
class Path:
    """A ``fib_path`` as given by the client (weight 0 normalised to 1)."""

    sw_if_index: int
    table_id: int
    rpf_id: int
    weight: int
    preference: int
    type: int
    flags: int
    proto: int
    nh: bytes  # the 16-byte next-hop union (IPv4 in the first 4 bytes)
    via_label: int = 0
    obj_id: int = 0
    classify_table_index: int = 0
    n_labels: int = 0
    labels: tuple[tuple[int, int, int, int], ...] = _NO_LABELS

    def same_path(self, other: Path) -> bool:
        """VPP's path comparison: what the path leads to, not its weight or preference."""
        return (self.type, self.proto, self.sw_if_index, self.table_id, self.nh, self.obj_id) == (
            other.type,
            other.proto,
            other.sw_if_index,
            other.table_id,
            other.nh,
            other.obj_id,
        )

    def encode(self) -> Fields:
        return {
            "sw_if_index": self.sw_if_index,
            "table_id": self.table_id,
            "rpf_id": self.rpf_id,
            "weight": self.weight,
            "preference": self.preference,
            "type": self.type,
            "flags": self.flags,
            "proto": self.proto,
            "nh": {
                "address": {"ip6": self.nh},
                "via_label": self.via_label,
                "obj_id": self.obj_id,
                "classify_table_index": self.classify_table_index,
            },
            "n_labels": self.n_labels,
            "label_stack": [
                {"is_uniform": u, "label": lb, "ttl": t, "exp": e} for u, lb, t, e in self.labels
            ],
        }

    def snapshot(self) -> dict[str, Any]:
        nh: IPAddress = (
            ipaddress.IPv6Address(self.nh)
            if self.proto == PROTO_IP6
            else ipaddress.IPv4Address(self.nh[:4])
        )
        return {
            "sw_if_index": self.sw_if_index,
            "table_id": self.table_id,
            "weight": self.weight,
            "preference": self.preference,
            "type": self.type,
            "flags": self.flags,
            "proto": self.proto,
            "nh": str(nh),
        }


def _path(*, itf: int = NO_INDEX, type_: int = PATH_NORMAL, nh: bytes = b"") -> Path:
    """A path of an entry VPP installs itself (special, connected, local)."""
    return Path(
        sw_if_index=itf,
        table_id=0,
        rpf_id=0,
        weight=1,
        preference=0,
        type=type_,
        flags=0,
        proto=PROTO_IP4 if len(nh) <= 4 else PROTO_IP6,
        nh=nh.ljust(16, b"\0"),
    )


@attrs.define
class Neighbor:
    mac: bytes
    flags: int
    stats_index: int


@attrs.define
class IpState:
    tables: dict[tuple[bool, int], Table] = attrs.field(factory=dict)
    #: API-sourced routes: (is_ip6, table_id, network) -> paths.
    routes: dict[tuple[bool, int, IPNetwork], list[Path]] = attrs.field(factory=dict)
    #: Interface addresses in the order added, host bits as given.
    addresses: dict[int, list[IPInterface]] = attrs.field(factory=dict)
    #: (sw_if_index, is_ip6) -> table id; absent means table 0.
    bindings: dict[tuple[int, bool], int] = attrs.field(factory=dict)
    #: unnumbered interface -> the interface whose addresses it borrows.
    unnumbered: dict[int, int] = attrs.field(factory=dict)
    neighbors: dict[tuple[int, IPAddress], Neighbor] = attrs.field(factory=dict)
    proxy_ranges: list[tuple[int, ipaddress.IPv4Address, ipaddress.IPv4Address]] = attrs.field(
        factory=list
    )
    proxy_interfaces: set[int] = attrs.field(factory=set)
    #: Stats-segment indices of FIB entries, stable for the simulator's lifetime.
    stats_indices: dict[tuple[bool, int, IPNetwork], int] = attrs.field(factory=dict)
    next_stats_index: int = 0

    # ---- tables ---------------------------------------------------------------------------
    def table_exists(self, is_ip6: bool, table_id: int) -> bool:
        return table_id == 0 or (is_ip6, table_id) in self.tables

    def require_table(self, is_ip6: bool, table_id: int) -> None:
        if not self.table_exists(is_ip6, table_id):
            raise SimError(rv.NO_SUCH_FIB)

    def lock_table(self, is_ip6: bool, table_id: int, holder: str, name: str = "") -> None:
        if table_id == 0:
            return
        table = self.tables.get((is_ip6, table_id))
        if table is None:
            default = f"ipv{6 if is_ip6 else 4}-VRF:{table_id}"
            table = self.tables[(is_ip6, table_id)] = Table(table_id, is_ip6, name or default)
        elif name:
            table.name = name
        table.locks.add(holder)

    def unlock_table(self, is_ip6: bool, table_id: int, holder: str) -> None:
        table = self.tables.get((is_ip6, table_id))
        if table is None:
            return
        table.locks.discard(holder)
        if holder == "api":
            # ip_table_delete flushes the API source before giving up its lock.
            for key in [k for k in self.routes if k[0] == is_ip6 and k[1] == table_id]:
                del self.routes[key]
        self._collect(is_ip6, table_id)

    def _collect(self, is_ip6: bool, table_id: int) -> None:
        table = self.tables.get((is_ip6, table_id))
        if table is None or table.locks:
            return
        if any(t == table_id for (_, v6), t in self.bindings.items() if v6 == is_ip6):
            return  # bound interfaces hold a lock too
        del self.tables[(is_ip6, table_id)]
        for key in [k for k in self.routes if k[0] == is_ip6 and k[1] == table_id]:
            del self.routes[key]

    def table_of(self, sw_if_index: int, is_ip6: bool) -> int:
        return self.bindings.get((sw_if_index, is_ip6), 0)

    # ---- addresses ------------------------------------------------------------------------
    def addresses_of(
        self, sw_if_index: int, is_ip6: bool, *, honor_unnumbered: bool
    ) -> list[IPInterface]:
        source = sw_if_index
        if honor_unnumbered and sw_if_index in self.unnumbered:
            source = self.unnumbered[sw_if_index]
        return [a for a in self.addresses.get(source, []) if (a.version == 6) == is_ip6]

    def stats_index(self, key: tuple[bool, int, IPNetwork]) -> int:
        index = self.stats_indices.get(key)
        if index is None:
            index = self.stats_indices[key] = self.next_stats_index
            self.next_stats_index += 1
        return index

    def interface_deleted(self, sw_if_index: int) -> None:
        self.addresses.pop(sw_if_index, None)
        self.unnumbered.pop(sw_if_index, None)
        for borrower in [u for u, donor in self.unnumbered.items() if donor == sw_if_index]:
            del self.unnumbered[borrower]
        for is_ip6 in (False, True):
            table_id = self.bindings.pop((sw_if_index, is_ip6), 0)
            self._collect(is_ip6, table_id)
        for key in [k for k in self.neighbors if k[0] == sw_if_index]:
            del self.neighbors[key]
        self.proxy_interfaces.discard(sw_if_index)
        # API routes through the interface stay, unresolved, as in VPP: it is the control
        # plane's job to remove them.

    # ---- FIB view -------------------------------------------------------------------------
    def fib(self, is_ip6: bool, table_id: int) -> Iterator[tuple[IPNetwork, int, list[Path]]]:
        """Every entry of a table as (prefix, best source, that source's paths), sorted."""
        entries: dict[IPNetwork, tuple[int, list[Path]]] = {}

        def offer(net: IPNetwork, src: int, paths: list[Path]) -> None:
            best = entries.get(net)
            if best is None or _PRIORITY[src] < _PRIORITY[best[0]]:
                entries[net] = (src, paths)

        for net, src, paths in _special_entries(is_ip6):
            offer(net, src, paths)
        for sw_if_index, addrs in self.addresses.items():
            for addr in addrs:
                if (addr.version == 6) != is_ip6 or self.table_of(sw_if_index, is_ip6) != table_id:
                    continue
                for net, paths in _interface_entries(sw_if_index, addr):
                    offer(net, SRC_INTERFACE, paths)
        for (v6, tid, net), paths in self.routes.items():
            if v6 == is_ip6 and tid == table_id:
                offer(net, SRC_API, paths)
        for net in sorted(entries, key=lambda n: (int(n.network_address), n.prefixlen)):
            src, paths = entries[net]
            yield net, src, paths

    def snapshot(self) -> dict[str, Any]:
        return {
            "tables": sorted(
                [
                    {"table_id": t.table_id, "is_ip6": t.is_ip6, "name": t.name}
                    for t in self.tables.values()
                ],
                key=lambda d: (d["is_ip6"], d["table_id"]),
            ),
            "routes": [
                {
                    "table_id": tid,
                    "prefix": str(net),
                    "paths": [p.snapshot() for p in paths],
                }
                for (v6, tid, net), paths in sorted(
                    self.routes.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]))
                )
            ],
            "addresses": {
                str(i): [str(a) for a in addrs] for i, addrs in sorted(self.addresses.items())
            },
            "bindings": sorted(
                [
                    {"sw_if_index": i, "is_ip6": v6, "table_id": t}
                    for (i, v6), t in self.bindings.items()
                ],
                key=lambda d: (d["sw_if_index"], d["is_ip6"]),
            ),
            "unnumbered": {str(u): d for u, d in sorted(self.unnumbered.items())},
            "neighbors": sorted(
                [
                    {"sw_if_index": i, "ip": str(ip), "mac": mac_str(n.mac), "flags": n.flags}
                    for (i, ip), n in self.neighbors.items()
                ],
                key=lambda d: (d["sw_if_index"], d["ip"]),
            ),
            "proxy_arp": [
                {"table_id": t, "low": str(lo), "hi": str(hi)} for t, lo, hi in self.proxy_ranges
            ],
            "proxy_arp_interfaces": sorted(self.proxy_interfaces),
        }


_IP4_SPECIALS = ("0.0.0.0/32", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32")


def _special_entries(is_ip6: bool) -> Iterator[tuple[IPNetwork, int, list[Path]]]:
    """What VPP installs in every table on creation (drop, multicast, broadcast, link-local)."""
    zero = b"\0" * (16 if is_ip6 else 4)
    drop = [_path(type_=PATH_DROP, nh=zero)]
    if is_ip6:
        yield ipaddress.IPv6Network("::/0"), SRC_DEFAULT_ROUTE, drop
        yield ipaddress.IPv6Network("fe80::/10"), SRC_SPECIAL, [_path(type_=PATH_LOCAL, nh=zero)]
        return
    yield ipaddress.IPv4Network("0.0.0.0/0"), SRC_DEFAULT_ROUTE, drop
    for pfx in _IP4_SPECIALS:
        yield ipaddress.IPv4Network(pfx), SRC_SPECIAL, drop


def _interface_entries(
    sw_if_index: int, addr: IPInterface
) -> Iterator[tuple[IPNetwork, list[Path]]]:
    """ip4/ip6_add_interface_routes: connected subnet, local host, and for IPv4 the subnet's
    network and broadcast addresses as drops."""
    net = addr.network
    width = addr.max_prefixlen
    zero = b"\0" * (16 if addr.version == 6 else 4)
    if net.prefixlen < width:
        yield net, [_path(itf=sw_if_index, nh=zero)]
    if addr.version == 4 and net.prefixlen < 31:
        drop = [_path(type_=PATH_DROP, nh=zero)]
        yield ipaddress.IPv4Network((net.network_address, 32)), drop
        yield ipaddress.IPv4Network((net.broadcast_address, 32)), drop
    host = ipaddress.ip_network((addr.ip, width))
    yield host, [_path(itf=sw_if_index, type_=PATH_LOCAL, nh=addr.ip.packed)]


# ---- tables ----------------------------------------------------------------------------------


@handlers.request("ip_table_add_del", "ip_table_add_del_v2")
def table_add_del(call: Call) -> Fields:
    table = call.req.sub("table")
    is_ip6, table_id = table.b("is_ip6"), table.u("table_id")
    if table_id == 0:
        return {}  # table 0 is permanent; add / delete are no-ops
    if call.req.b("is_add"):
        call.state.ip.lock_table(is_ip6, table_id, "api", table.s("name"))
    else:
        call.state.ip.unlock_table(is_ip6, table_id, "api")
    return {}


@handlers.request("ip_table_allocate")
def table_allocate(call: Call) -> Fields:
    table = call.req.sub("table")
    is_ip6, table_id = table.b("is_ip6"), table.u("table_id")
    ip = call.state.ip
    if table_id == NO_INDEX:
        table_id = 1
        while ip.table_exists(is_ip6, table_id):
            table_id += 1
    ip.lock_table(is_ip6, table_id, "api", table.s("name"))
    name = ip.tables[(is_ip6, table_id)].name if table_id else f"ipv{6 if is_ip6 else 4}-VRF:0"
    return {"table": {"table_id": table_id, "is_ip6": is_ip6, "name": name}}


@handlers.dump("ip_table_dump")
def table_dump(call: Call) -> Iterable[Fields]:
    ip = call.state.ip
    for is_ip6 in (False, True):
        yield {"table": {"table_id": 0, "is_ip6": is_ip6, "name": f"ipv{6 if is_ip6 else 4}-VRF:0"}}
        for (v6, tid), table in sorted(ip.tables.items()):
            if v6 == is_ip6:
                yield {"table": {"table_id": tid, "is_ip6": v6, "name": table.name}}


# ---- interface L3 settings ---------------------------------------------------------------------


@handlers.request("sw_interface_set_table")
def set_table(call: Call) -> Fields:
    req, state = call.req, call.state
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    is_ip6, table_id = req.b("is_ipv6"), req.u("vrf_id")
    ip = state.ip
    ip.require_table(is_ip6, table_id)
    if ip.addresses_of(sw_if_index, is_ip6, honor_unnumbered=True):
        raise SimError(rv.ADDRESS_FOUND_FOR_INTERFACE)
    old = ip.bindings.pop((sw_if_index, is_ip6), 0)
    if table_id:
        ip.bindings[(sw_if_index, is_ip6)] = table_id
    if old != table_id:
        ip._collect(is_ip6, old)
    return {}


@handlers.request("sw_interface_get_table")
def get_table(call: Call) -> Fields:
    sw_if_index = call.req.u("sw_if_index")
    call.state.interfaces.require(sw_if_index)
    return {"vrf_id": call.state.ip.table_of(sw_if_index, call.req.b("is_ipv6"))}


@handlers.request("sw_interface_add_del_address")
def add_del_address(call: Call) -> Fields:
    req, state = call.req, call.state
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    ip = state.ip
    if req.b("del_all"):
        ip.addresses.pop(sw_if_index, None)
        return {}
    pfx = req.sub("prefix")
    try:
        addr = address(pfx.sub("address"))
    except BadAddress as exc:
        raise SimError(rv.INVALID_VALUE) from exc
    length = pfx.u("len")
    if length == 0 or length > addr.max_prefixlen:
        raise SimError(rv.ADDRESS_LENGTH_MISMATCH)
    new = ipaddress.ip_interface((addr, length))
    if not req.b("is_add"):
        mine = ip.addresses.get(sw_if_index, [])
        if new not in mine:
            raise SimError(rv.ADDRESS_NOT_FOUND_FOR_INTERFACE)
        mine.remove(new)
        if not mine:
            del ip.addresses[sw_if_index]
        return {}
    if sw_if_index == 0:
        raise SimError(rv.UNSUPPORTED)
    is_ip6 = new.version == 6
    table_id = ip.table_of(sw_if_index, is_ip6)
    for other, addrs in ip.addresses.items():
        if ip.table_of(other, is_ip6) != table_id:
            continue
        for old in addrs:
            if old.version != new.version:
                continue
            overlaps = new.ip in old.network or old.ip in new.network
            if not overlaps:
                continue
            # One interface may hold several addresses of one subnet with the same length.
            if other == sw_if_index and old.network.prefixlen == length and old.ip != new.ip:
                continue
            raise SimError(rv.ADDRESS_IN_USE)
    ip.addresses.setdefault(sw_if_index, []).append(new)
    return {}


@handlers.dump("ip_address_dump")
def address_dump(call: Call) -> Iterable[Fields]:
    sw_if_index = call.req.u("sw_if_index")
    if call.state.interfaces.get(sw_if_index) is None:
        return
    for addr in call.state.ip.addresses_of(
        sw_if_index, call.req.b("is_ipv6"), honor_unnumbered=True
    ):
        yield {"sw_if_index": sw_if_index, "prefix": encode_prefix(addr.ip, addr.network.prefixlen)}


@handlers.request("sw_interface_set_unnumbered")
def set_unnumbered(call: Call) -> Fields:
    req, state = call.req, call.state
    # The field names are "backwards" in VPP too: sw_if_index lends its addresses to
    # unnumbered_sw_if_index.
    donor, borrower = req.u("sw_if_index"), req.u("unnumbered_sw_if_index")
    state.interfaces.require(borrower)
    if req.b("is_add"):
        state.interfaces.require(donor, rv.INVALID_SW_IF_INDEX_2)
        state.ip.unnumbered[borrower] = donor
    else:
        state.ip.unnumbered.pop(borrower, None)
    return {}


@handlers.dump("ip_unnumbered_dump")
def unnumbered_dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("sw_if_index")
    for borrower, donor in sorted(call.state.ip.unnumbered.items()):
        if wanted in (NO_INDEX, borrower):
            yield {"sw_if_index": borrower, "ip_sw_if_index": donor}


# ---- routes ------------------------------------------------------------------------------------


def _decode_path(state: SimState, p: Msg) -> Path:
    nh = p.sub("nh")
    path = Path(
        sw_if_index=p.u("sw_if_index"),
        table_id=p.u("table_id"),
        rpf_id=p.u("rpf_id"),
        weight=p.u("weight") or 1,
        preference=p.u("preference"),
        type=p.u("type"),
        flags=p.u("flags"),
        proto=p.u("proto"),
        nh=nh.sub("address").raw("ip6"),
        via_label=nh.u("via_label"),
        obj_id=nh.u("obj_id"),
        classify_table_index=nh.u("classify_table_index"),
        n_labels=p.u("n_labels"),
        labels=tuple(
            (lb.u("is_uniform"), lb.u("label"), lb.u("ttl"), lb.u("exp"))
            for lb in p.subs("label_stack")
        ),
    )
    if path.type == PATH_NORMAL and path.proto in (PROTO_IP4, PROTO_IP6):
        if path.sw_if_index != NO_INDEX:
            if state.interfaces.get(path.sw_if_index) is None:
                raise SimError(rv.NO_MATCHING_INTERFACE, stats_index=NO_INDEX)
        elif not state.ip.table_exists(path.proto == PROTO_IP6, path.table_id):
            # A recursive / deag path resolves in its table_id, which must exist.
            raise SimError(rv.NO_SUCH_FIB, stats_index=NO_INDEX)
    return path


@handlers.request("ip_route_add_del")
def route_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    ip = state.ip
    route = req.sub("route")
    pfx = route.sub("prefix")
    try:
        addr = address(pfx.sub("address"))
    except BadAddress as exc:
        raise SimError(rv.INVALID_VALUE, stats_index=NO_INDEX) from exc
    if pfx.u("len") > addr.max_prefixlen:
        raise SimError(rv.INVALID_PREFIX_LENGTH, stats_index=NO_INDEX)
    net = network(addr, pfx.u("len"))
    is_ip6, table_id = addr.version == 6, route.u("table_id")
    if not ip.table_exists(is_ip6, table_id):
        raise SimError(rv.NO_SUCH_FIB, stats_index=NO_INDEX)
    paths = [_decode_path(state, p) for p in route.subs("paths")]
    key = (is_ip6, table_id, net)
    current = ip.routes.get(key, [])
    is_add, multipath = req.b("is_add"), req.b("is_multipath")
    if (is_add or multipath) and not paths:
        raise SimError(rv.NO_PATHS_IN_ROUTE, stats_index=NO_INDEX)
    if is_add and not multipath:
        new = _dedup(paths)
    elif is_add:
        new = list(current)
        for path in paths:
            new = [p for p in new if not p.same_path(path)] + [path]
    elif multipath:
        new = [p for p in current if not any(p.same_path(x) for x in paths)]
    else:
        new = []
    if new:
        ip.routes[key] = new
        return {"stats_index": ip.stats_index(key)}
    ip.routes.pop(key, None)
    return {"stats_index": NO_INDEX}


def _dedup(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out = [p for p in out if not p.same_path(path)] + [path]
    return out


def _route_fields(
    ip: IpState, is_ip6: bool, table_id: int, net: IPNetwork, paths: list[Path]
) -> Fields:
    return {
        "table_id": table_id,
        "stats_index": ip.stats_index((is_ip6, table_id, net)),
        "prefix": encode_prefix(net.network_address, net.prefixlen),
        "n_paths": len(paths),
        "paths": [p.encode() for p in paths],
    }


@handlers.dump("ip_route_dump")
def route_dump(call: Call) -> Iterable[Fields]:
    table = call.req.sub("table")
    is_ip6, table_id = table.b("is_ip6"), table.u("table_id")
    ip = call.state.ip
    if not ip.table_exists(is_ip6, table_id):
        return
    for net, _src, paths in ip.fib(is_ip6, table_id):
        yield {"route": _route_fields(ip, is_ip6, table_id, net, paths)}


@handlers.dump("ip_route_v2_dump")
def route_v2_dump(call: Call) -> Iterable[Fields]:
    table = call.req.sub("table")
    is_ip6, table_id = table.b("is_ip6"), table.u("table_id")
    wanted = call.req.u("src")
    ip = call.state.ip
    if not ip.table_exists(is_ip6, table_id):
        return
    for net, src, paths in ip.fib(is_ip6, table_id):
        if wanted in (0, src):
            yield {"route": {**_route_fields(ip, is_ip6, table_id, net, paths), "src": src}}


# ---- neighbours ----------------------------------------------------------------------------------


@handlers.request("ip_neighbor_add_del")
def neighbor_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    nbr = req.sub("neighbor")
    try:
        ip_addr = address(nbr.sub("ip_address"))
    except BadAddress as exc:
        raise SimError(rv.INVALID_VALUE, stats_index=NO_INDEX) from exc
    sw_if_index = nbr.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    key = (sw_if_index, ip_addr)
    flags, mac = nbr.u("flags"), nbr.raw("mac_address")
    ip = state.ip
    entry = ip.neighbors.get(key)
    if not req.b("is_add"):
        if entry is None:
            raise SimError(rv.NO_SUCH_ENTRY, stats_index=NO_INDEX)
        del ip.neighbors[key]
        return {"stats_index": NO_INDEX}
    if entry is None:
        entry = ip.neighbors[key] = Neighbor(mac, flags, ip.next_stats_index)
        ip.next_stats_index += 1
        return {"stats_index": entry.stats_index}
    if not flags & NEIGHBOR_STATIC and entry.flags & NEIGHBOR_STATIC:
        if entry.mac != mac:
            # Refusing to overwrite a static entry with a dynamic one; VPP returns -2 here.
            raise SimError(rv.INVALID_SW_IF_INDEX, stats_index=NO_INDEX)
        return {"stats_index": entry.stats_index}
    # A dynamic entry may become static, never the reverse.
    entry.flags = flags | (entry.flags & NEIGHBOR_STATIC)
    entry.mac = mac
    return {"stats_index": entry.stats_index}


@handlers.dump("ip_neighbor_dump")
def neighbor_dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("sw_if_index")
    want_ip6 = call.req.u("af") == 1
    for (sw_if_index, ip_addr), entry in sorted(
        call.state.ip.neighbors.items(), key=lambda kv: (kv[0][0], kv[0][1].version, kv[0][1])
    ):
        if wanted not in (NO_INDEX, sw_if_index) or (ip_addr.version == 6) != want_ip6:
            continue
        yield {
            "age": 0.0,
            "neighbor": {
                "sw_if_index": sw_if_index,
                "flags": entry.flags,
                "mac_address": entry.mac,
                "ip_address": encode_address(ip_addr),
            },
        }


# ---- proxy ARP -----------------------------------------------------------------------------------


@handlers.request("proxy_arp_add_del")
def proxy_arp_add_del(call: Call) -> Fields:
    proxy = call.req.sub("proxy")
    table_id = proxy.u("table_id")
    ip = call.state.ip
    ip.require_table(False, table_id)
    entry = (
        table_id,
        ipaddress.IPv4Address(proxy.raw("low")),
        ipaddress.IPv4Address(proxy.raw("hi")),
    )
    if call.req.b("is_add"):
        if entry not in ip.proxy_ranges:
            ip.proxy_ranges.append(entry)
    elif entry in ip.proxy_ranges:
        ip.proxy_ranges.remove(entry)
    else:
        raise SimError(rv.NO_SUCH_ENTRY)
    return {}


@handlers.dump("proxy_arp_dump")
def proxy_arp_dump(call: Call) -> Iterable[Fields]:
    for table_id, low, hi in call.state.ip.proxy_ranges:
        yield {"proxy": {"table_id": table_id, "low": low.packed, "hi": hi.packed}}


@handlers.request("proxy_arp_intfc_enable_disable")
def proxy_arp_intfc(call: Call) -> Fields:
    sw_if_index = call.req.u("sw_if_index")
    call.state.interfaces.require(sw_if_index)
    if call.req.b("enable"):
        call.state.ip.proxy_interfaces.add(sw_if_index)
    else:
        call.state.ip.proxy_interfaces.discard(sw_if_index)
    return {}


@handlers.dump("proxy_arp_intfc_dump")
def proxy_arp_intfc_dump(call: Call) -> Iterable[Fields]:
    for sw_if_index in sorted(call.state.ip.proxy_interfaces):
        yield {"sw_if_index": sw_if_index}
