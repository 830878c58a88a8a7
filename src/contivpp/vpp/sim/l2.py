"""Simulated L2: bridge domains, interface membership (BVI, split-horizon group), L2 FIB.

Contiv joins the VXLAN tunnels of all nodes and a loopback BVI in one bridge domain per node;
this module keeps that structure and answers its dumps. Semantics follow VPP v26.06
(``l2_api.c``, ``l2_bd.c``, ``l2_input.c``, ``l2_fib.c``); see ``vpp-socket-protocol.md``
section 11.6.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, Fields, mac_str

if TYPE_CHECKING:
    from contivpp.vpp.sim.state import SimState

handlers = HandlerTable()

BD_ID_MAX = (1 << 24) - 1
PORT_NORMAL = 0
PORT_BVI = 1
PORT_UU_FWD = 2


@attrs.define
class Member:
    shg: int
    port_type: int


@attrs.define
class BridgeDomain:
    bd_id: int
    flood: bool = True
    uu_flood: bool = True
    forward: bool = True
    learn: bool = True
    arp_term: bool = False
    arp_ufwd: bool = False
    mac_age: int = 0
    tag: str = ""
    members: dict[int, Member] = attrs.field(factory=dict)

    def port(self, port_type: int) -> int:
        for sw_if_index, member in self.members.items():
            if member.port_type == port_type:
                return sw_if_index
        return NO_INDEX

    def snapshot(self) -> dict[str, Any]:
        return {
            "bd_id": self.bd_id,
            "flood": self.flood,
            "uu_flood": self.uu_flood,
            "forward": self.forward,
            "learn": self.learn,
            "arp_term": self.arp_term,
            "arp_ufwd": self.arp_ufwd,
            "mac_age": self.mac_age,
            "tag": self.tag,
            "members": [
                {"sw_if_index": i, "shg": m.shg, "port_type": m.port_type}
                for i, m in sorted(self.members.items())
            ],
        }


@attrs.define
class FibEntry:
    sw_if_index: int
    static: bool
    filter: bool
    bvi: bool


@attrs.define
class L2State:
    domains: dict[int, BridgeDomain] = attrs.field(factory=dict)
    #: sw_if_index -> bd_id of every interface in L2 bridging mode.
    bridged: dict[int, int] = attrs.field(factory=dict)
    fib: dict[tuple[int, bytes], FibEntry] = attrs.field(factory=dict)

    def leave(self, sw_if_index: int) -> None:
        bd_id = self.bridged.pop(sw_if_index, None)
        if bd_id is not None:
            self.domains[bd_id].members.pop(sw_if_index, None)

    def interface_deleted(self, sw_if_index: int) -> None:
        self.leave(sw_if_index)
        for key in [k for k, e in self.fib.items() if e.sw_if_index == sw_if_index]:
            del self.fib[key]

    def snapshot(self) -> dict[str, Any]:
        return {
            "bridge_domains": [self.domains[b].snapshot() for b in sorted(self.domains)],
            "fib": [
                {
                    "bd_id": bd_id,
                    "mac": mac_str(mac),
                    "sw_if_index": e.sw_if_index,
                    "static": e.static,
                    "filter": e.filter,
                    "bvi": e.bvi,
                }
                for (bd_id, mac), e in sorted(self.fib.items())
            ],
        }


def _pick_bd_id(state: SimState) -> int:
    # l2_bd.c picks a pseudo-random free id when asked for ~0.
    for _ in range(64):
        bd_id = state.rng.randint(1, BD_ID_MAX)
        if bd_id not in state.l2.domains:
            return bd_id
    raise SimError(rv.EAGAIN, bd_id=NO_INDEX)


def _bd_add_del(call: Call) -> int:
    req, l2 = call.req, call.state.l2
    bd_id = req.u("bd_id")
    if req.b("is_add"):
        if bd_id == NO_INDEX and call.req.name == "bridge_domain_add_del_v2":
            bd_id = _pick_bd_id(call.state)
        elif bd_id == 0:
            raise SimError(rv.BD_NOT_MODIFIABLE, bd_id=NO_INDEX)
        elif bd_id > BD_ID_MAX:
            raise SimError(rv.BD_ID_EXCEED_MAX, bd_id=NO_INDEX)
        elif bd_id in l2.domains:
            raise SimError(rv.BD_ALREADY_EXISTS, bd_id=NO_INDEX)
        l2.domains[bd_id] = BridgeDomain(
            bd_id=bd_id,
            flood=req.b("flood"),
            uu_flood=req.b("uu_flood"),
            forward=req.b("forward"),
            learn=req.b("learn"),
            arp_term=req.b("arp_term"),
            arp_ufwd=req.b("arp_ufwd"),
            mac_age=req.u("mac_age"),
            tag=req.s("bd_tag"),
        )
        return bd_id
    if bd_id == 0:
        raise SimError(rv.BD_NOT_MODIFIABLE, bd_id=NO_INDEX)
    bd = l2.domains.get(bd_id)
    if bd is None:
        raise SimError(rv.NO_SUCH_ENTRY, bd_id=NO_INDEX)
    if bd.members:
        raise SimError(rv.BD_IN_USE, bd_id=NO_INDEX)
    del l2.domains[bd_id]
    for key in [k for k in l2.fib if k[0] == bd_id]:
        del l2.fib[key]
    return bd_id


@handlers.request("bridge_domain_add_del_v2")
def bd_add_del_v2(call: Call) -> Fields:
    return {"bd_id": _bd_add_del(call)}


@handlers.request("bridge_domain_add_del")
def bd_add_del(call: Call) -> Fields:
    _bd_add_del(call)
    return {}


@handlers.dump("bridge_domain_dump")
def bd_dump(call: Call) -> Iterable[Fields]:
    wanted_bd, wanted_if = call.req.u("bd_id"), call.req.u("sw_if_index")
    l2 = call.state.l2
    for bd_id in sorted(l2.domains):
        bd = l2.domains[bd_id]
        if wanted_bd not in (NO_INDEX, bd_id):
            continue
        if wanted_if != NO_INDEX and wanted_if not in bd.members:
            continue
        yield {
            "bd_id": bd_id,
            "flood": bd.flood,
            "uu_flood": bd.uu_flood,
            "forward": bd.forward,
            "learn": bd.learn,
            "arp_term": bd.arp_term,
            "arp_ufwd": bd.arp_ufwd,
            "mac_age": bd.mac_age,
            "bd_tag": bd.tag,
            "bvi_sw_if_index": bd.port(PORT_BVI),
            "uu_fwd_sw_if_index": bd.port(PORT_UU_FWD),
            "n_sw_ifs": len(bd.members),
            "sw_if_details": [
                {"context": call.context, "sw_if_index": i, "shg": m.shg}
                for i, m in sorted(bd.members.items())
            ],
        }


@handlers.request("sw_interface_set_l2_bridge")
def set_l2_bridge(call: Call) -> Fields:
    req, state = call.req, call.state
    sw_if_index = req.u("rx_sw_if_index")
    itf = state.interfaces.require(sw_if_index)
    l2 = state.l2
    if not req.b("enable"):
        l2.leave(sw_if_index)  # back to L3 mode (also drops BVI status)
        return {}
    bd_id, port_type, shg = req.u("bd_id"), req.u("port_type"), req.u("shg")
    if bd_id > BD_ID_MAX:
        raise SimError(rv.BD_ID_EXCEED_MAX)
    if port_type not in (PORT_NORMAL, PORT_BVI, PORT_UU_FWD):
        raise SimError(rv.INVALID_VALUE)
    if port_type == PORT_BVI and not itf.ethernet:
        raise SimError(rv.NON_ETHERNET)
    bd = l2.domains.get(bd_id)
    if port_type == PORT_BVI and bd is not None:
        bvi = bd.port(PORT_BVI)
        if bvi not in (NO_INDEX, sw_if_index):
            raise SimError(rv.BD_ALREADY_HAS_BVI)
    if bd is None:
        # The bridge domain is created implicitly, with default settings.
        bd = l2.domains[bd_id] = BridgeDomain(bd_id=bd_id)
    l2.leave(sw_if_index)
    bd.members[sw_if_index] = Member(shg=shg, port_type=port_type)
    l2.bridged[sw_if_index] = bd_id
    return {}


@handlers.request("l2fib_add_del")
def l2fib_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    l2 = state.l2
    bd_id = req.u("bd_id")
    if bd_id not in l2.domains:
        raise SimError(rv.NO_SUCH_ENTRY)
    mac, sw_if_index = req.raw("mac"), req.u("sw_if_index")
    key = (bd_id, mac)
    if not req.b("is_add"):
        entry = l2.fib.get(key)
        if entry is None or sw_if_index not in (NO_INDEX, entry.sw_if_index):
            raise SimError(rv.NO_SUCH_ENTRY)
        del l2.fib[key]
        return {}
    if req.b("filter_mac"):
        l2.fib[key] = FibEntry(NO_INDEX, static=True, filter=True, bvi=False)
        return {}
    state.interfaces.require(sw_if_index)
    if sw_if_index not in l2.bridged:
        raise SimError(rv.INVALID_SW_IF_INDEX)  # the interface must be in L2 bridging mode
    l2.fib[key] = FibEntry(
        sw_if_index, static=req.b("static_mac"), filter=False, bvi=req.b("bvi_mac")
    )
    return {}


@handlers.dump("l2_fib_table_dump")
def l2fib_dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("bd_id")
    for (bd_id, mac), entry in sorted(call.state.l2.fib.items()):
        if wanted not in (NO_INDEX, bd_id):
            continue
        yield {
            "bd_id": bd_id,
            "mac": mac,
            "sw_if_index": entry.sw_if_index,
            "static_mac": entry.static,
            "filter_mac": entry.filter,
            "bvi_mac": entry.bvi,
        }
