"""TAP interfaces (tapv2): creation with their Linux end, deletion, and reading them back.

A pod's VPP TAP is created with its Linux end already in the pod's network namespace, named,
addressed and with its MAC, in one ``tap_create`` call: VPP does that work in the kernel, so
the agent needs no Linux-side interface configuration for pods. The Linux end's MTU is set to
the interface's MTU at creation (VPP cannot change it later, so an MTU change recreates a TAP).
``tap_create_v3`` is used when VPP has it (v2 is deprecated in v26.06).

VPP does not report ``host_ip4_gw`` back; reading a TAP yields "" there and the interface
descriptor keeps the believed gateway when everything else matches.
"""

from __future__ import annotations

from typing import Any

from contivpp.model.vpp import Interface, TapLink
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.base import NO_INDEX


async def create(client: VPPClient, itf: Interface) -> int:
    link = itf.tap
    assert link is not None  # validated by the interface descriptor
    fields: dict[str, Any] = {
        "id": NO_INDEX,
        "use_random_mac": not itf.mac,
        "num_rx_queues": 1,
        "host_if_name_set": True,
        "host_if_name": link.host_if_name,
        "tag": itf.name,
    }
    if itf.mac:
        fields["mac_address"] = itf.mac
    if link.host_namespace:
        fields.update(host_namespace_set=True, host_namespace=link.host_namespace)
    if link.host_mac:
        fields.update(host_mac_addr_set=True, host_mac_addr=link.host_mac)
    if link.host_ip4_prefix:
        fields.update(host_ip4_prefix_set=True, host_ip4_prefix=link.host_ip4_prefix)
    if link.host_ip4_gw:
        fields.update(host_ip4_gw_set=True, host_ip4_gw=link.host_ip4_gw)
    if itf.mtu:
        fields.update(host_mtu_set=True, host_mtu_size=itf.mtu)
    if client.supports("tap_create_v3"):
        reply = await client.call("tap_create_v3", num_tx_queues=1, **fields)
    else:
        reply = await client.call("tap_create_v2", **fields)
    return int(reply.sw_if_index)


async def delete(client: VPPClient, itf: Interface, sw_if_index: int) -> None:
    await client.call("tap_delete_v2", sw_if_index=sw_if_index)


async def read(client: VPPClient) -> dict[int, TapLink]:
    """Every TAP's Linux end, by sw_if_index."""
    links: dict[int, TapLink] = {}
    for d in await client.dump("sw_interface_tap_v2_dump", sw_if_index=NO_INDEX):
        prefix = d.host_ip4_prefix
        links[int(d.sw_if_index)] = TapLink(
            host_if_name=d.host_if_name,
            host_namespace=d.host_namespace,
            host_mac=str(d.host_mac_addr),
            host_ip4_prefix=str(prefix) if prefix.network.prefixlen else "",
        )
    return links
