"""VXLAN tunnel interfaces: creation, deletion, and reading them back.

Contiv connects nodes with a full mesh of VXLAN tunnels in one bridge domain. VPP identifies a
tunnel by its end points, port, encapsulation VRF and VNI (deleting repeats them, not the
sw_if_index), and has no tag field in ``vxlan_add_del_tunnel_v3``, so the interface descriptor
tags the tunnel right after creating it. ``decap_next_index`` must be sent as ~0 (L2 input):
the message has no default and 0 means "drop everything decapsulated".
"""

from __future__ import annotations

from typing import Any

from contivpp.model.vpp import Interface, VxlanLink
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.base import NO_INDEX

VXLAN_PORT = 4789


def _fields(link: VxlanLink) -> dict[str, Any]:
    return {
        "instance": NO_INDEX,
        "src_address": link.src,
        "dst_address": link.dst,
        "src_port": VXLAN_PORT,
        "dst_port": VXLAN_PORT,
        "mcast_sw_if_index": NO_INDEX,
        "encap_vrf_id": link.encap_vrf,
        "decap_next_index": NO_INDEX,
        "vni": link.vni,
        "is_l3": False,
    }


async def create(client: VPPClient, itf: Interface) -> int:
    assert itf.vxlan is not None  # validated by the interface descriptor
    reply = await client.call("vxlan_add_del_tunnel_v3", is_add=True, **_fields(itf.vxlan))
    return int(reply.sw_if_index)


async def delete(client: VPPClient, itf: Interface, sw_if_index: int) -> None:
    assert itf.vxlan is not None
    await client.call("vxlan_add_del_tunnel_v3", is_add=False, **_fields(itf.vxlan))


async def read(client: VPPClient) -> dict[int, VxlanLink]:
    """Every VXLAN tunnel's end points, by sw_if_index."""
    return {
        int(d.sw_if_index): VxlanLink(
            src=str(d.src_address),
            dst=str(d.dst_address),
            vni=int(d.vni),
            encap_vrf=int(d.encap_vrf_id),
        )
        for d in await client.dump("vxlan_tunnel_v2_dump", sw_if_index=NO_INDEX)
    }
