"""Simulated VXLAN tunnels (``vxlan_add_del_tunnel_v3``, ``vxlan_tunnel_v2_dump``).

Contiv's node-to-node overlay is a full mesh of VXLAN tunnels in one bridge domain; each tunnel
is also an interface, so creation and deletion go through the shared interface pool. Semantics
follow VPP v26.06 (``plugins/vxlan/vxlan_api.c``, ``vxlan.c``); see ``vpp-socket-protocol.md``
section 11.5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.pools import Pool, random_mac
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, BadAddress, Fields, IPAddress, address, encode_address

handlers = HandlerTable()

VXLAN_PORT = 4789
DECAP_DROP = 0
DECAP_L2_INPUT = 1

TunnelKey = tuple[IPAddress, IPAddress | None, int, int, int]


@attrs.define
class Tunnel:
    sw_if_index: int
    dev_instance: int
    instance: int
    src: IPAddress
    dst: IPAddress
    src_port: int
    dst_port: int
    mcast_sw_if_index: int
    encap_vrf_id: int
    decap_next_index: int
    vni: int
    is_l3: bool

    @property
    def key(self) -> TunnelKey:
        return _key(self.src, self.dst, self.src_port, self.encap_vrf_id, self.vni)

    def snapshot(self) -> dict[str, Any]:
        return {
            "sw_if_index": self.sw_if_index,
            "instance": self.instance,
            "src": str(self.src),
            "dst": str(self.dst),
            "src_port": self.src_port,
            "dst_port": self.dst_port,
            "mcast_sw_if_index": self.mcast_sw_if_index,
            "encap_vrf_id": self.encap_vrf_id,
            "decap_next_index": self.decap_next_index,
            "vni": self.vni,
            "is_l3": self.is_l3,
        }


def _key(src: IPAddress, dst: IPAddress, src_port: int, vrf: int, vni: int) -> TunnelKey:
    # For an IPv4 multicast destination the source is not part of the key.
    return (dst, None if dst.version == 4 and dst.is_multicast else src, src_port, vrf, vni)


@attrs.define
class VxlanState:
    tunnels: dict[int, Tunnel] = attrs.field(factory=dict)
    #: Internal tunnel pool (VPP's dev_instance), reused last-freed first.
    pool: Pool = attrs.field(factory=Pool)

    def snapshot(self) -> dict[str, Any]:
        return {"tunnels": [self.tunnels[i].snapshot() for i in sorted(self.tunnels)]}


@handlers.request("vxlan_add_del_tunnel_v3")
def add_del_tunnel(call: Call) -> Fields:
    req, state = call.req, call.state
    try:
        src, dst = address(req.sub("src_address")), address(req.sub("dst_address"))
    except BadAddress as exc:
        raise SimError(rv.INVALID_VALUE, sw_if_index=NO_INDEX) from exc
    is_ip6 = src.version == 6
    vrf = req.u("encap_vrf_id")
    if not state.ip.table_exists(is_ip6, vrf):
        raise SimError(rv.NO_SUCH_FIB, sw_if_index=NO_INDEX)
    if src.version != dst.version:
        raise SimError(rv.INVALID_VALUE, sw_if_index=NO_INDEX)
    if src == dst:
        raise SimError(rv.SAME_SRC_DST, sw_if_index=NO_INDEX)
    mcast = req.u("mcast_sw_if_index")
    if dst.is_multicast and state.interfaces.get(mcast) is None:
        raise SimError(rv.INVALID_SW_IF_INDEX, sw_if_index=NO_INDEX)
    src_port = req.u("src_port") or VXLAN_PORT
    dst_port = req.u("dst_port") or VXLAN_PORT
    vni = req.u("vni")
    vx = state.vxlan
    key = _key(src, dst, src_port, vrf, vni)
    existing = next((t for t in vx.tunnels.values() if t.key == key), None)
    if not req.b("is_add"):
        if existing is None:
            raise SimError(rv.NO_SUCH_ENTRY, sw_if_index=NO_INDEX)
        state.delete_interface(existing.sw_if_index)
        del vx.tunnels[existing.sw_if_index]
        vx.pool.release(existing.dev_instance)
        return {"sw_if_index": existing.sw_if_index}
    decap = req.u("decap_next_index")
    if decap == NO_INDEX:
        decap = DECAP_L2_INPUT
    elif decap not in (DECAP_DROP, DECAP_L2_INPUT):
        raise SimError(rv.INVALID_DECAP_NEXT, sw_if_index=NO_INDEX)
    if existing is not None:
        raise SimError(rv.TUNNEL_EXIST, sw_if_index=NO_INDEX)
    dev_instance = vx.pool.alloc()
    instance = req.u("instance")
    if instance == NO_INDEX:
        instance = dev_instance
    if any(t.instance == instance for t in vx.tunnels.values()):
        vx.pool.release(dev_instance)
        raise SimError(rv.INSTANCE_IN_USE, sw_if_index=NO_INDEX)
    is_l3 = req.b("is_l3")
    itf = state.create_interface(
        name=f"vxlan_tunnel{instance}",
        dev_type="VXLAN",
        mac=b"\0" * 6 if is_l3 else random_mac(state.rng),
        ethernet=not is_l3,
    )
    vx.tunnels[itf.sw_if_index] = Tunnel(
        sw_if_index=itf.sw_if_index,
        dev_instance=dev_instance,
        instance=instance,
        src=src,
        dst=dst,
        src_port=src_port,
        dst_port=dst_port,
        mcast_sw_if_index=mcast,
        encap_vrf_id=vrf,
        decap_next_index=decap,
        vni=vni,
        is_l3=is_l3,
    )
    return {"sw_if_index": itf.sw_if_index}


@handlers.dump("vxlan_tunnel_v2_dump")
def tunnel_dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("sw_if_index")
    for sw_if_index in sorted(call.state.vxlan.tunnels):
        if wanted not in (NO_INDEX, sw_if_index):
            continue
        t = call.state.vxlan.tunnels[sw_if_index]
        yield {
            "sw_if_index": sw_if_index,
            "instance": t.instance,
            "src_address": encode_address(t.src),
            "dst_address": encode_address(t.dst),
            "src_port": t.src_port,
            "dst_port": t.dst_port,
            "mcast_sw_if_index": t.mcast_sw_if_index,
            "encap_vrf_id": t.encap_vrf_id,
            "decap_next_index": t.decap_next_index,
            "vni": t.vni,
        }
