"""Simulated NAT44 endpoint-dependent plugin: enable, interface roles, address pools,
static / load-balanced / identity mappings and their dumps.

Contiv renders Kubernetes services as NAT44 static and load-balanced mappings and SNATs pod
egress through the address pool, so these are the NAT objects its descriptors manage. No packet
is translated: only the configuration and VPP's validation of it are reproduced. Semantics follow
VPP v26.06 (``plugins/nat/nat44-ed/nat44_ed_api.c``, ``nat44_ed.c``); see
``vpp-socket-protocol.md`` section 11.3.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.nat_sessions import NatSessions
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, Fields, Msg

handlers = HandlerTable()

#: NAT44-ED's session timeouts before ``nat_set_timeouts`` (``nat44_ed.h``, and the API's doc).
DEFAULT_TIMEOUTS = {"udp": 300, "tcp_established": 7440, "tcp_transitory": 240, "icmp": 60}

# nat_config_flags
TWICE_NAT = 0x01
SELF_TWICE_NAT = 0x02
OUT2IN_ONLY = 0x04
ADDR_ONLY = 0x08
IS_OUTSIDE = 0x10
IS_INSIDE = 0x20
# nat44_config_flags
STATIC_MAPPING_ONLY = 0x02
CONNECTION_TRACKING = 0x04

DEFAULT_SESSIONS = 63 * 1024

IPv4 = ipaddress.IPv4Address
#: (external address, external port, protocol): the out2in key shared by static and LB mappings.
ExternalKey = tuple[IPv4, int, int]


@attrs.define
class StaticMapping:
    flags: int
    local: IPv4
    external: IPv4
    protocol: int
    local_port: int
    external_port: int
    external_sw_if_index: int
    vrf_id: int
    tag: str
    pool: IPv4 | None

    def snapshot(self) -> dict[str, Any]:
        return {
            "flags": self.flags,
            "local": str(self.local),
            "external": str(self.external),
            "protocol": self.protocol,
            "local_port": self.local_port,
            "external_port": self.external_port,
            "external_sw_if_index": self.external_sw_if_index,
            "vrf_id": self.vrf_id,
            "tag": self.tag,
            "pool": str(self.pool) if self.pool else None,
        }


@attrs.frozen
class LbLocal:
    addr: IPv4
    port: int
    probability: int
    vrf_id: int


@attrs.define
class LbMapping:
    flags: int
    external: IPv4
    external_port: int
    protocol: int
    affinity: int
    tag: str
    locals: list[LbLocal]

    def snapshot(self) -> dict[str, Any]:
        return {
            "flags": self.flags,
            "external": str(self.external),
            "external_port": self.external_port,
            "protocol": self.protocol,
            "affinity": self.affinity,
            "tag": self.tag,
            "locals": [
                {
                    "addr": str(x.addr),
                    "port": x.port,
                    "probability": x.probability,
                    "vrf_id": x.vrf_id,
                }
                for x in self.locals
            ],
        }


#: (address or None, sw_if_index, protocol, port, vrf_id)
IdentityKey = tuple[IPv4 | None, int, int, int, int]


@attrs.define
class NatState:
    enabled: bool = False
    inside_vrf: int = 0
    outside_vrf: int = 0
    sessions: int = 0
    flags: int = 0
    #: Pass packets that match no session or mapping instead of dropping them.
    forwarding: bool = False
    #: sw_if_index -> IS_INSIDE | IS_OUTSIDE
    interfaces: dict[int, int] = attrs.field(factory=dict)
    output_interfaces: set[int] = attrs.field(factory=set)
    #: (address, twice_nat) -> vrf_id, in the order added.
    addresses: dict[tuple[IPv4, bool], int] = attrs.field(factory=dict)
    static: dict[ExternalKey, StaticMapping] = attrs.field(factory=dict)
    lb: dict[ExternalKey, LbMapping] = attrs.field(factory=dict)
    identity: dict[IdentityKey, tuple[int, str]] = attrs.field(factory=dict)
    session_table: NatSessions = attrs.field(factory=NatSessions)
    #: Session timeouts in seconds (``nat_set_timeouts``); the simulator's forwarder expires
    #: its NAT sessions by them.
    timeouts: dict[str, int] = attrs.field(factory=lambda: dict(DEFAULT_TIMEOUTS))

    def require_enabled(self) -> None:
        if not self.enabled:
            raise SimError(rv.UNSUPPORTED)

    def interface_deleted(self, sw_if_index: int) -> None:
        self.interfaces.pop(sw_if_index, None)
        self.output_interfaces.discard(sw_if_index)

    def snapshot(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "inside_vrf": self.inside_vrf,
            "outside_vrf": self.outside_vrf,
            "sessions": self.sessions,
            "forwarding": self.forwarding,
            "interfaces": {str(i): f for i, f in sorted(self.interfaces.items())},
            "output_interfaces": sorted(self.output_interfaces),
            "addresses": [
                {"address": str(a), "twice_nat": t, "vrf_id": v}
                for (a, t), v in self.addresses.items()
            ],
            "static_mappings": [m.snapshot() for m in self.static.values()],
            "lb_mappings": [m.snapshot() for m in self.lb.values()],
            "identity_mappings": [
                {
                    "address": str(a) if a else None,
                    "sw_if_index": i,
                    "protocol": p,
                    "port": port,
                    "vrf_id": v,
                    "flags": f,
                    "tag": t,
                }
                for (a, i, p, port, v), (f, t) in self.identity.items()
            ],
            "session_table": self.session_table.snapshot(),
        }


def _ip4(m: Msg, field: str) -> IPv4:
    return IPv4(m.raw(field))


# ---- plugin ------------------------------------------------------------------------------------


@handlers.request("nat44_ed_plugin_enable_disable")
def plugin_enable_disable(call: Call) -> Fields:
    req, state = call.req, call.state
    nat = state.nat
    if not req.b("enable"):
        if not nat.enabled:
            raise SimError(rv.FEATURE_ALREADY_DISABLED)
        for vrf in {nat.inside_vrf, nat.outside_vrf}:
            state.ip.unlock_table(False, vrf, "nat")
        # Disabling wipes every mapping, address and interface role.
        state.nat = NatState()
        return {}
    if nat.enabled:
        raise SimError(rv.FEATURE_ALREADY_ENABLED)
    flags = req.u("flags")
    if flags & (STATIC_MAPPING_ONLY | CONNECTION_TRACKING):
        raise SimError(rv.UNSUPPORTED)
    nat.enabled = True
    nat.inside_vrf, nat.outside_vrf = req.u("inside_vrf"), req.u("outside_vrf")
    nat.sessions = req.u("sessions") or DEFAULT_SESSIONS
    nat.flags = flags
    for vrf in {nat.inside_vrf, nat.outside_vrf}:
        state.ip.lock_table(False, vrf, "nat")  # the plugin creates missing VRFs
    return {}


@handlers.request("nat44_show_running_config")
def running_config(call: Call) -> Fields:
    nat = call.state.nat
    return {
        "inside_vrf": nat.inside_vrf,
        "outside_vrf": nat.outside_vrf,
        "sessions": nat.sessions,
        "forwarding_enabled": nat.forwarding,
        "flags": nat.flags,
        "timeouts": dict(nat.timeouts),
    }


@handlers.request("nat_set_timeouts")
def set_timeouts(call: Call) -> Fields:
    # vl_api_nat_set_timeouts_t_handler stores the four values as given, enabled or not.
    call.state.nat.timeouts = {name: call.req.u(name) for name in DEFAULT_TIMEOUTS}
    return {}


@handlers.request("nat44_forwarding_enable_disable")
def forwarding_enable_disable(call: Call) -> Fields:
    # nat44_ed_forwarding_enable_disable only sets a flag (it does not check that the plugin
    # is enabled); disabling the plugin resets it with the rest of the configuration.
    call.state.nat.forwarding = call.req.b("enable")
    return {}


# ---- interfaces ------------------------------------------------------------------------------


@handlers.request("nat44_interface_add_del_feature")
def interface_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    nat = state.nat
    nat.require_enabled()
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    role = IS_INSIDE if req.u("flags") & IS_INSIDE else IS_OUTSIDE
    current = nat.interfaces.get(sw_if_index, 0)
    if req.b("is_add"):
        if sw_if_index in nat.output_interfaces:
            raise SimError(rv.VALUE_EXIST)
        nat.interfaces[sw_if_index] = current | role
        return {}
    if not current & role:
        raise SimError(rv.NO_SUCH_ENTRY)
    if current & ~role:
        nat.interfaces[sw_if_index] = current & ~role
    else:
        del nat.interfaces[sw_if_index]
    return {}


@handlers.dump("nat44_interface_dump")
def interface_dump(call: Call) -> Iterable[Fields]:
    for sw_if_index, flags in sorted(call.state.nat.interfaces.items()):
        yield {"sw_if_index": sw_if_index, "flags": flags}


@handlers.request("nat44_ed_add_del_output_interface")
def output_interface_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    nat = state.nat
    nat.require_enabled()
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    if req.b("is_add"):
        if sw_if_index in nat.interfaces or sw_if_index in nat.output_interfaces:
            raise SimError(rv.VALUE_EXIST)
        nat.output_interfaces.add(sw_if_index)
    elif sw_if_index in nat.output_interfaces:
        nat.output_interfaces.remove(sw_if_index)
    else:
        raise SimError(rv.NO_SUCH_ENTRY)
    return {}


@handlers.dump("nat44_ed_output_interface_get")
def output_interface_get(call: Call) -> Iterable[Fields]:
    for sw_if_index in sorted(call.state.nat.output_interfaces):
        yield {"sw_if_index": sw_if_index}


# ---- address pool ------------------------------------------------------------------------------


@handlers.request("nat44_add_del_address_range")
def address_range(call: Call) -> Fields:
    req, nat = call.req, call.state.nat
    first, last = int(_ip4(req, "first_ip_address")), int(_ip4(req, "last_ip_address"))
    twice = bool(req.u("flags") & TWICE_NAT)
    is_add = req.b("is_add")
    if not nat.enabled:
        # The pool of a disabled plugin is empty: nothing to delete, nothing may be added.
        raise SimError(rv.UNSUPPORTED if is_add else rv.NO_SUCH_ENTRY)
    # Applied address by address; the first failure stops the range (earlier ones stay).
    for n in range(first, last + 1):
        key = (IPv4(n), twice)
        if is_add:
            if key in nat.addresses:
                raise SimError(rv.VALUE_EXIST)
            nat.addresses[key] = req.u("vrf_id")
        elif key in nat.addresses:
            del nat.addresses[key]
        else:
            raise SimError(rv.NO_SUCH_ENTRY)
    return {}


@handlers.dump("nat44_address_dump")
def address_dump(call: Call) -> Iterable[Fields]:
    for (addr, twice), vrf_id in call.state.nat.addresses.items():
        yield {"ip_address": addr.packed, "flags": TWICE_NAT if twice else 0, "vrf_id": vrf_id}


# ---- static mappings ---------------------------------------------------------------------------


@handlers.request("nat44_add_del_static_mapping_v2", "nat44_add_del_static_mapping")
def static_mapping(call: Call) -> Fields:
    req, state = call.req, call.state
    nat = state.nat
    nat.require_enabled()
    flags = req.u("flags")
    if flags & ADDR_ONLY and flags & (TWICE_NAT | SELF_TWICE_NAT):
        raise SimError(rv.UNSUPPORTED)
    addr_only = bool(flags & ADDR_ONLY)
    protocol = 0 if addr_only else req.u("protocol")
    local_port = 0 if addr_only else req.u("local_port")
    external_port = 0 if addr_only else req.u("external_port")
    ext_if = req.u("external_sw_if_index")
    if ext_if != NO_INDEX:
        state.interfaces.require(ext_if)
    external = _ip4(req, "external_ip_address")
    local = _ip4(req, "local_ip_address")
    vrf_id = req.u("vrf_id")
    if vrf_id == NO_INDEX:
        vrf_id = nat.inside_vrf
    key = (external, external_port, protocol)
    if not req.b("is_add"):
        if key not in nat.static:
            raise SimError(rv.NO_SUCH_ENTRY)
        m = nat.static.pop(key)
        nat.session_table.close_where(
            nat.session_table.static_of(m.local, m.local_port, m.vrf_id, *key)
        )
        return {}
    if key in nat.static or key in nat.lb:
        raise SimError(rv.VALUE_EXIST)
    if not flags & OUT2IN_ONLY:
        for m in nat.static.values():
            same_local = (m.local, m.local_port, m.protocol, m.vrf_id) == (
                local,
                local_port,
                protocol,
                vrf_id,
            )
            if same_local and not m.flags & OUT2IN_ONLY:
                raise SimError(rv.VALUE_EXIST)
    pool = None
    if req.has("pool_ip_address") and any(req.raw("pool_ip_address")):
        pool = _ip4(req, "pool_ip_address")
    nat.static[key] = StaticMapping(
        flags=flags,
        local=local,
        external=external,
        protocol=protocol,
        local_port=local_port,
        external_port=external_port,
        external_sw_if_index=ext_if,
        vrf_id=vrf_id,
        tag=req.s("tag"),
        pool=pool,
    )
    return {}


@handlers.dump("nat44_static_mapping_dump")
def static_mapping_dump(call: Call) -> Iterable[Fields]:
    for m in call.state.nat.static.values():
        yield {
            "flags": m.flags,
            "local_ip_address": m.local.packed,
            "external_ip_address": m.external.packed,
            "protocol": m.protocol,
            "local_port": m.local_port,
            "external_port": m.external_port,
            "external_sw_if_index": m.external_sw_if_index,
            "vrf_id": m.vrf_id,
            "tag": m.tag,
        }


# ---- load-balanced static mappings --------------------------------------------------------------


def _lb_local(m: Msg) -> LbLocal:
    return LbLocal(_ip4(m, "addr"), m.u("port"), m.u("probability"), m.u("vrf_id"))


@handlers.request("nat44_add_del_lb_static_mapping")
def lb_mapping(call: Call) -> Fields:
    req, nat = call.req, call.state.nat
    nat.require_enabled()
    flags = req.u("flags")
    if flags & TWICE_NAT:
        flags &= ~SELF_TWICE_NAT  # TWICE_NAT wins when both are given
    external = _ip4(req, "external_addr")
    key = (external, req.u("external_port"), req.u("protocol"))
    if not req.b("is_add"):
        if key in nat.static:
            raise SimError(rv.INVALID_VALUE)
        if key not in nat.lb:
            raise SimError(rv.NO_SUCH_ENTRY)
        for local in nat.lb.pop(key).locals:
            nat.session_table.close_where(nat.session_table.lb_towards(local.addr, local.port))
        return {}
    locals_ = [_lb_local(x) for x in req.subs("locals")]
    if len(locals_) < 2:
        raise SimError(rv.INVALID_VALUE)
    if key in nat.lb or key in nat.static:
        raise SimError(rv.VALUE_EXIST)
    if not flags & OUT2IN_ONLY and (external, False) not in nat.addresses:
        # Without OUT2IN_ONLY the external address must come from the NAT pool.
        raise SimError(rv.NO_SUCH_ENTRY)
    nat.lb[key] = LbMapping(
        flags=flags,
        external=external,
        external_port=key[1],
        protocol=key[2],
        affinity=req.u("affinity"),
        tag=req.s("tag"),
        locals=locals_,
    )
    return {}


@handlers.request("nat44_lb_static_mapping_add_del_local")
def lb_local_add_del(call: Call) -> Fields:
    req, nat = call.req, call.state.nat
    nat.require_enabled()
    key = (_ip4(req, "external_addr"), req.u("external_port"), req.u("protocol"))
    if key in nat.static:
        raise SimError(rv.INVALID_VALUE)
    mapping = nat.lb.get(key)
    if mapping is None:
        raise SimError(rv.NO_SUCH_ENTRY)
    local = _lb_local(req.sub("local"))
    same = [
        x
        for x in mapping.locals
        if (x.addr, x.port, x.vrf_id) == (local.addr, local.port, local.vrf_id)
    ]
    if req.b("is_add"):
        if same:
            raise SimError(rv.VALUE_EXIST)
        mapping.locals.append(local)
        return {}
    if not same:
        raise SimError(rv.NO_SUCH_ENTRY)
    if len(mapping.locals) <= 2:
        raise SimError(rv.UNSPECIFIED)  # an LB mapping keeps at least two backends
    mapping.locals.remove(same[0])
    # VPP deletes the LB sessions towards the removed backend with it.
    nat.session_table.close_where(nat.session_table.lb_towards(local.addr, local.port))
    return {}


@handlers.dump("nat44_lb_static_mapping_dump")
def lb_mapping_dump(call: Call) -> Iterable[Fields]:
    for m in call.state.nat.lb.values():
        yield {
            "external_addr": m.external.packed,
            "external_port": m.external_port,
            "protocol": m.protocol,
            "flags": m.flags,
            "affinity": m.affinity,
            "tag": m.tag,
            "local_num": len(m.locals),
            "locals": [
                {
                    "addr": x.addr.packed,
                    "port": x.port,
                    "probability": x.probability,
                    "vrf_id": x.vrf_id,
                }
                for x in m.locals
            ],
        }


# ---- identity mappings -------------------------------------------------------------------------


@handlers.request("nat44_add_del_identity_mapping")
def identity_mapping(call: Call) -> Fields:
    req, state = call.req, call.state
    nat = state.nat
    nat.require_enabled()
    flags = req.u("flags")
    addr_only = bool(flags & ADDR_ONLY)
    sw_if_index = req.u("sw_if_index")
    if sw_if_index != NO_INDEX:
        state.interfaces.require(sw_if_index)
    vrf_id = req.u("vrf_id")
    if vrf_id == NO_INDEX:
        vrf_id = nat.inside_vrf
    key: IdentityKey = (
        None if sw_if_index != NO_INDEX else _ip4(req, "ip_address"),
        sw_if_index,
        0 if addr_only else req.u("protocol"),
        0 if addr_only else req.u("port"),
        vrf_id,
    )
    if req.b("is_add"):
        if key in nat.identity:
            raise SimError(rv.VALUE_EXIST)
        nat.identity[key] = (flags, req.s("tag"))
    elif key in nat.identity:
        del nat.identity[key]
    else:
        raise SimError(rv.NO_SUCH_ENTRY)
    return {}


@handlers.dump("nat44_identity_mapping_dump")
def identity_mapping_dump(call: Call) -> Iterable[Fields]:
    for (addr, sw_if_index, protocol, port, vrf_id), (
        flags,
        tag,
    ) in call.state.nat.identity.items():
        yield {
            "flags": flags,
            "ip_address": addr.packed if addr else b"\0" * 4,
            "protocol": protocol,
            "port": port,
            "sw_if_index": sw_if_index,
            "vrf_id": vrf_id,
            "tag": tag,
        }
