"""Simulated VPP interfaces: local0, loopbacks, BVIs, taps; flags, tags, MAC, MTU, dumps.

Every interface kind shares one sw_if_index pool and one set of device attributes, which live
here; L3 attributes (addresses, VRF binding, unnumbered) live in :mod:`.ip`, bridge membership in
:mod:`.l2`. Semantics follow VPP v26.06 (``interface_api.c``, ``tapv2/tap.c``,
``ethernet/interface.c``) as summarised in ``vpp-socket-protocol.md`` section 11.1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import structlog

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.linux import HostError, TapSpec
from contivpp.vpp.sim.pools import Bitmap, Pool, random_mac
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, Fields, Msg, mac_str

if TYPE_CHECKING:
    from contivpp.vpp.sim.af_packet import AfPacket
    from contivpp.vpp.sim.state import SimState

log = structlog.get_logger(__name__)

handlers = HandlerTable()

IF_ADMIN_UP = 1
IF_LINK_UP = 2

MTU_DEFAULT = 9000
# ethernet_interface.c: ETHERNET_MIN_PACKET_BYTES / ETHERNET_MAX_PACKET_BYTES.
MTU_MIN = 64
MTU_MAX = 9216

TAP_FLAG_TUN = 16
TAP_FLAG_ATTACH = 8
TAP_FLAG_PERSIST = 4
TAP_MAX_ID = 8192
TAP_MAX_RING = 32768
TAP_DEFAULT_RING = 256

LOOPBACK_MAX_INSTANCE = 16384


@attrs.define
class Interface:
    """Device attributes of one sw_if_index."""

    sw_if_index: int
    name: str
    dev_type: str
    mac: bytes
    #: Ethernet-class hardware (has a MAC, can be a BVI, MTU / MAC settable).
    ethernet: bool = True
    #: Virtual devices (tap, loopback, BVI, VXLAN) have link state follow admin state.
    link_follows_admin: bool = True
    admin_up: bool = False
    link_up: bool = False
    tag: str = ""
    link_mtu: int = MTU_DEFAULT
    #: Per-protocol MTU: L3, IP4, IP6, MPLS (0 = not set).
    mtu: list[int] = attrs.field(factory=lambda: [MTU_DEFAULT, 0, 0, 0])

    @property
    def flags(self) -> int:
        return (IF_ADMIN_UP if self.admin_up else 0) | (IF_LINK_UP if self.link_up else 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "sw_if_index": self.sw_if_index,
            "name": self.name,
            "dev_type": self.dev_type,
            "mac": mac_str(self.mac),
            "admin_up": self.admin_up,
            "link_up": self.link_up,
            "tag": self.tag,
            "link_mtu": self.link_mtu,
            "mtu": list(self.mtu),
        }


@attrs.define
class Tap:
    """tapv2 attributes of a tap interface."""

    sw_if_index: int
    id: int
    tx_ring_sz: int
    rx_ring_sz: int
    num_rx_queues: int
    num_tx_queues: int
    tap_flags: int
    host_if_name: str
    host_namespace: str
    host_bridge: str
    host_mac: bytes
    host_mtu_size: int
    host_ip4: ipaddress.IPv4Interface | None
    host_ip6: ipaddress.IPv6Interface | None

    def snapshot(self) -> dict[str, Any]:
        return {
            "sw_if_index": self.sw_if_index,
            "id": self.id,
            "tx_ring_sz": self.tx_ring_sz,
            "rx_ring_sz": self.rx_ring_sz,
            "num_rx_queues": self.num_rx_queues,
            "num_tx_queues": self.num_tx_queues,
            "tap_flags": self.tap_flags,
            "host_if_name": self.host_if_name,
            "host_namespace": self.host_namespace,
            "host_bridge": self.host_bridge,
            "host_mac": mac_str(self.host_mac),
            "host_mtu_size": self.host_mtu_size,
            "host_ip4": str(self.host_ip4) if self.host_ip4 else None,
            "host_ip6": str(self.host_ip6) if self.host_ip6 else None,
        }


@attrs.define
class InterfacesState:
    """All interfaces by sw_if_index, plus per-kind instance numbering."""

    by_index: dict[int, Interface] = attrs.field(factory=dict)
    pool: Pool = attrs.field(factory=Pool)
    loopback_instances: Bitmap = attrs.field(factory=Bitmap)
    loopback_of: dict[int, int] = attrs.field(factory=dict)
    bvi_instances: Bitmap = attrs.field(factory=Bitmap)
    bvi_of: dict[int, int] = attrs.field(factory=dict)
    tap_ids: Bitmap = attrs.field(factory=Bitmap)
    taps: dict[int, Tap] = attrs.field(factory=dict)
    #: Host-interfaces (af_packet plugin), by sw_if_index.
    af_packets: dict[int, AfPacket] = attrs.field(factory=dict)

    def get(self, sw_if_index: int) -> Interface | None:
        return self.by_index.get(sw_if_index)

    def require(self, sw_if_index: int, retval: int = rv.INVALID_SW_IF_INDEX) -> Interface:
        """VPP's VALIDATE_SW_IF_INDEX: the interface, or fail with ``retval`` (-2)."""
        itf = self.by_index.get(sw_if_index)
        if itf is None:
            raise SimError(retval)
        return itf

    def by_name(self, name: str) -> Interface | None:
        for itf in self.by_index.values():
            if itf.name == name:
                return itf
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "interfaces": [self.by_index[i].snapshot() for i in sorted(self.by_index)],
            "taps": [self.taps[i].snapshot() for i in sorted(self.taps)],
            "af_packets": [self.af_packets[i].snapshot() for i in sorted(self.af_packets)],
        }


def _set_admin(state: SimState, itf: Interface, up: bool) -> None:
    if itf.admin_up == up:
        return
    itf.admin_up = up
    changed = IF_ADMIN_UP if up else 0
    if itf.link_follows_admin and itf.link_up != up:
        itf.link_up = up
        changed |= IF_LINK_UP if up else 0
    # VPP reports what changed in the batch, not a snapshot: going down yields flags 0.
    state.interface_event(itf.sw_if_index, changed, deleted=False)


# ---- loopbacks and BVIs ----------------------------------------------------------------------


def _loopback_mac(mac: bytes, instance: int) -> bytes:
    if any(mac):
        return mac
    # ethernet/interface.c: default loopback address de:ad:00:00:00:<instance>.
    return bytes([0xDE, 0xAD, 0x00, 0x00, (instance >> 8) & 0xFF, instance & 0xFF])


def _create_loopback(state: SimState, mac: bytes, instance: int | None) -> int:
    loops = state.interfaces.loopback_instances
    if instance is None:
        instance = loops.first_free()
    elif instance in loops.used or instance >= LOOPBACK_MAX_INSTANCE:
        raise SimError(rv.INVALID_REGISTRATION, sw_if_index=NO_INDEX)
    loops.take(instance)
    itf = state.create_interface(
        name=f"loop{instance}", dev_type="Loopback", mac=_loopback_mac(mac, instance)
    )
    state.interfaces.loopback_of[itf.sw_if_index] = instance
    return itf.sw_if_index


@handlers.request("create_loopback")
def create_loopback(call: Call) -> Fields:
    return {"sw_if_index": _create_loopback(call.state, call.req.raw("mac_address"), None)}


@handlers.request("create_loopback_instance")
def create_loopback_instance(call: Call) -> Fields:
    req = call.req
    instance = req.u("user_instance") if req.b("is_specified") else None
    return {"sw_if_index": _create_loopback(call.state, req.raw("mac_address"), instance)}


@handlers.request("delete_loopback")
def delete_loopback(call: Call) -> Fields:
    sw_if_index = call.req.u("sw_if_index")
    instance = call.state.interfaces.loopback_of.pop(sw_if_index, None)
    if instance is None:
        raise SimError(rv.INVALID_SW_IF_INDEX)
    call.state.delete_interface(sw_if_index)
    call.state.interfaces.loopback_instances.release(instance)
    return {}


@handlers.request("bvi_create")
def bvi_create(call: Call) -> Fields:
    state, req = call.state, call.req
    bvis = state.interfaces.bvi_instances
    instance = req.u("user_instance")
    if instance == NO_INDEX:
        instance = bvis.first_free()
    elif instance in bvis.used:
        raise SimError(rv.INVALID_REGISTRATION, sw_if_index=NO_INDEX)
    bvis.take(instance)
    mac = req.raw("mac")
    itf = state.create_interface(
        name=f"bvi{instance}", dev_type="BVI", mac=mac if any(mac) else random_mac(state.rng)
    )
    state.interfaces.bvi_of[itf.sw_if_index] = instance
    return {"sw_if_index": itf.sw_if_index}


@handlers.request("bvi_delete")
def bvi_delete(call: Call) -> Fields:
    sw_if_index = call.req.u("sw_if_index")
    instance = call.state.interfaces.bvi_of.pop(sw_if_index, None)
    if instance is None:
        raise SimError(rv.INVALID_SW_IF_INDEX)
    call.state.delete_interface(sw_if_index)
    call.state.interfaces.bvi_instances.release(instance)
    return {}


# ---- taps --------------------------------------------------------------------------------------


def _ring(size: int) -> int:
    size = size or TAP_DEFAULT_RING
    if size & (size - 1) or size > TAP_MAX_RING:
        raise SimError(rv.INVALID_VALUE, sw_if_index=NO_INDEX)
    return size


_Iface = TypeVar("_Iface", ipaddress.IPv4Interface, ipaddress.IPv6Interface)


def _host_prefix(req: Msg, field: str, kind: type[_Iface]) -> _Iface | None:
    if not req.b(f"{field}_set"):
        return None
    p = req.sub(field)
    return kind((p.raw("address"), p.u("len")))


@handlers.request("tap_create_v2", "tap_create_v3")
def tap_create(call: Call) -> Fields:
    state, req = call.state, call.req
    ifs = state.interfaces
    tap_id = req.u("id")
    if tap_id == NO_INDEX:
        tap_id = ifs.tap_ids.first_free()
    elif tap_id > TAP_MAX_ID:
        raise SimError(rv.UNSPECIFIED, sw_if_index=NO_INDEX)
    elif tap_id in ifs.tap_ids.used:
        raise SimError(rv.INVALID_INTERFACE, sw_if_index=NO_INDEX)
    flags = req.u("tap_flags")
    host_if_name = req.s("host_if_name") if req.b("host_if_name_set") else ""
    if flags & TAP_FLAG_ATTACH and not host_if_name:
        raise SimError(rv.NO_MATCHING_INTERFACE, sw_if_index=NO_INDEX)
    tx_ring, rx_ring = _ring(req.u("tx_ring_sz")), _ring(req.u("rx_ring_sz"))
    # The kernel names the host end tapN when none is given (tap.c does the same).
    host_name = host_if_name or f"tap{tap_id}"
    host_namespace = req.s("host_namespace") if req.b("host_namespace_set") else ""
    # Linux names are unique per namespace (every pod's tap is "eth0" in its own netns).
    if any(
        (t.host_if_name, t.host_namespace) == (host_name, host_namespace) for t in ifs.taps.values()
    ):
        raise SimError(rv.SYSCALL_ERROR_2, sw_if_index=NO_INDEX)
    host_mac = req.raw("host_mac_addr") if req.b("host_mac_addr_set") else random_mac(state.rng)
    try:
        ip4 = _host_prefix(req, "host_ip4_prefix", ipaddress.IPv4Interface)
        ip6 = _host_prefix(req, "host_ip6_prefix", ipaddress.IPv6Interface)
    except ValueError as exc:
        raise SimError(rv.INVALID_VALUE, sw_if_index=NO_INDEX) from exc
    tap = Tap(
        sw_if_index=NO_INDEX,
        id=tap_id,
        tx_ring_sz=tx_ring,
        rx_ring_sz=rx_ring,
        num_rx_queues=req.u("num_rx_queues"),
        num_tx_queues=req.u("num_tx_queues") if req.has("num_tx_queues") else 1,
        tap_flags=flags,
        host_if_name=host_name,
        host_namespace=host_namespace,
        host_bridge=req.s("host_bridge") if req.b("host_bridge_set") else "",
        host_mac=host_mac,
        host_mtu_size=req.u("host_mtu_size") if req.b("host_mtu_set") else 0,
        host_ip4=ip4,
        host_ip6=ip6,
    )
    if state.linux is not None:
        gw4 = ipaddress.IPv4Address(req.raw("host_ip4_gw")) if req.b("host_ip4_gw_set") else None
        gw6 = ipaddress.IPv6Address(req.raw("host_ip6_gw")) if req.b("host_ip6_gw_set") else None
        try:
            state.linux.create(
                TapSpec(
                    name=host_name,
                    netns=tap.host_namespace,
                    mac=host_mac,
                    mtu=tap.host_mtu_size,
                    ip4=ip4,
                    ip6=ip6,
                    gw4=gw4,
                    gw6=gw6,
                    bridge=tap.host_bridge,
                    tun=bool(flags & TAP_FLAG_TUN),
                    persist=bool(flags & TAP_FLAG_PERSIST),
                )
            )
        except HostError as exc:
            log.warning("vppsim_tap_host_failed", host_if_name=host_name, error=str(exc))
            raise SimError(exc.retval, sw_if_index=NO_INDEX) from exc
    ifs.tap_ids.take(tap_id)
    tun = bool(flags & TAP_FLAG_TUN)
    if tun:
        mac = b"\0" * 6  # an L3 (TUN) device has no MAC
    elif req.b("use_random_mac"):
        mac = random_mac(state.rng)
    else:
        mac = req.raw("mac_address")
    itf = state.create_interface(
        name=f"tun{tap_id}" if tun else f"tap{tap_id}",
        dev_type="tun" if tun else "tap",
        mac=mac,
        ethernet=not tun,
        link_up=True,
        tag=req.s("tag"),
    )
    tap.sw_if_index = itf.sw_if_index
    ifs.taps[itf.sw_if_index] = tap
    return {"sw_if_index": itf.sw_if_index}


@handlers.request("tap_delete_v2")
def tap_delete(call: Call) -> Fields:
    state = call.state
    sw_if_index = call.req.u("sw_if_index")
    tap = state.interfaces.taps.get(sw_if_index)
    if tap is None:
        raise SimError(rv.INVALID_SW_IF_INDEX)
    itf = state.interfaces.require(sw_if_index)
    _set_admin(state, itf, False)
    state.delete_interface(sw_if_index)
    del state.interfaces.taps[sw_if_index]
    state.interfaces.tap_ids.release(tap.id)
    if state.linux is not None:
        state.linux.delete(tap.host_namespace, tap.host_if_name)
    return {}


def _prefix4(p: ipaddress.IPv4Interface | None) -> Fields:
    if p is None:
        return {"address": b"\0" * 4, "len": 0}
    return {"address": p.ip.packed, "len": p.network.prefixlen}


def _prefix6(p: ipaddress.IPv6Interface | None) -> Fields:
    if p is None:
        return {"address": b"\0" * 16, "len": 0}
    return {"address": p.ip.packed, "len": p.network.prefixlen}


@handlers.dump("sw_interface_tap_v2_dump")
def tap_dump(call: Call) -> Iterable[Fields]:
    ifs = call.state.interfaces
    wanted = call.req.u("sw_if_index")
    for sw_if_index in sorted(ifs.taps):
        if wanted not in (NO_INDEX, sw_if_index):
            continue
        tap = ifs.taps[sw_if_index]
        yield {
            "sw_if_index": sw_if_index,
            "id": tap.id,
            "tx_ring_sz": tap.tx_ring_sz,
            "rx_ring_sz": tap.rx_ring_sz,
            "host_mtu_size": tap.host_mtu_size,
            "host_mac_addr": tap.host_mac,
            "host_ip4_prefix": _prefix4(tap.host_ip4),
            "host_ip6_prefix": _prefix6(tap.host_ip6),
            "tap_flags": tap.tap_flags,
            "dev_name": ifs.by_index[sw_if_index].name,
            "host_if_name": tap.host_if_name,
            "host_namespace": tap.host_namespace,
            "host_bridge": tap.host_bridge,
        }


# ---- generic interface settings ---------------------------------------------------------------


@handlers.request("sw_interface_set_flags")
def set_flags(call: Call) -> Fields:
    itf = call.state.interfaces.require(call.req.u("sw_if_index"))
    # Only ADMIN_UP is looked at; LINK_UP in the request is ignored, as in VPP.
    _set_admin(call.state, itf, bool(call.req.u("flags") & IF_ADMIN_UP))
    return {}


@handlers.request("sw_interface_tag_add_del")
def tag_add_del(call: Call) -> Fields:
    req = call.req
    itf = call.state.interfaces.require(req.u("sw_if_index"))
    if req.b("is_add"):
        if not req.s("tag"):
            raise SimError(rv.INVALID_VALUE)
        itf.tag = req.s("tag")
    else:
        itf.tag = ""
    return {}


@handlers.request("sw_interface_set_mac_address")
def set_mac_address(call: Call) -> Fields:
    itf = call.state.interfaces.require(call.req.u("sw_if_index"))
    if not itf.ethernet:
        raise SimError(rv.UNIMPLEMENTED)
    itf.mac = call.req.raw("mac_address")
    return {}


@handlers.request("hw_interface_set_mtu")
def hw_set_mtu(call: Call) -> Fields:
    itf = call.state.interfaces.require(call.req.u("sw_if_index"))
    mtu = call.req.u("mtu")
    if not itf.ethernet:
        raise SimError(-30)  # FEATURE_DISABLED: no ethernet interface behind it
    if not MTU_MIN <= mtu <= MTU_MAX:
        raise SimError(rv.INVALID_VALUE)
    itf.link_mtu = mtu
    # The hardware MTU propagates to the interface's L3 MTU and resets per-protocol ones.
    itf.mtu = [mtu, 0, 0, 0]
    return {}


@handlers.request("sw_interface_set_mtu")
def sw_set_mtu(call: Call) -> Fields:
    itf = call.state.interfaces.require(call.req.u("sw_if_index"))
    itf.mtu = call.req.ints("mtu")
    return {}


@handlers.dump("sw_interface_dump")
def interface_dump(call: Call) -> Iterable[Fields]:
    req = call.req
    ifs = call.state.interfaces
    wanted = req.u("sw_if_index")
    name_filter = req.s("name_filter").lower() if req.b("name_filter_valid") else None
    for sw_if_index in sorted(ifs.by_index):
        itf = ifs.by_index[sw_if_index]
        if name_filter is not None:
            if name_filter not in itf.name.lower():
                continue
        elif wanted not in (NO_INDEX, 0, sw_if_index):
            continue
        yield {
            "sw_if_index": sw_if_index,
            "sup_sw_if_index": sw_if_index,
            "l2_address": itf.mac,
            "flags": itf.flags,
            "type": 0,
            "link_mtu": itf.link_mtu,
            "mtu": list(itf.mtu),
            "interface_name": itf.name,
            "interface_dev_type": itf.dev_type,
            "tag": itf.tag,
        }
