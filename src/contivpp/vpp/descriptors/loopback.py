"""Loopback interfaces: how one is created, deleted and recognised in VPP.

Contiv uses loopbacks where an interface must exist without a device behind it: the pod
gateway (``podGwLoop``), the VXLAN bridge domain's BVI and the node's own address when there is
no NIC. This module is the loopback part of the interface descriptor
(:mod:`contivpp.vpp.descriptors.interface`), which handles everything common to all kinds.
"""

from __future__ import annotations

from contivpp.model.vpp import Interface
from contivpp.vpp.client import VPPClient

#: ``create_loopback`` with an all-zero MAC makes VPP pick de:ad:00:00:00:<instance>.
NO_MAC = "00:00:00:00:00:00"
DEV_TYPE = "Loopback"


async def create(client: VPPClient, itf: Interface) -> int:
    reply = await client.call("create_loopback", mac_address=itf.mac or NO_MAC)
    return int(reply.sw_if_index)


async def delete(client: VPPClient, itf: Interface, sw_if_index: int) -> None:
    await client.call("delete_loopback", sw_if_index=sw_if_index)
