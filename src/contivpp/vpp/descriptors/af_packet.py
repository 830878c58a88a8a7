"""Host-interfaces (VPP's af_packet plugin): the node's uplink NIC as a VPP interface.

VPP binds an AF_PACKET socket to the Linux interface (which must exist in VPP's network
namespace; ``af_packet_create_v3`` fails with INVALID_INTERFACE until it does, which the
scheduler retries) and names the interface ``host-<ifname>``. Ethernet mode, the interface MAC
when one is wanted (else VPP's random 02:fe:..), one queue each way, and the flags the v1/v2
handlers default to (qdisc bypass, checksum / GSO offload). Deletion is by Linux name;
SYSCALL_ERROR_1 is VPP's answer for a name it does not know (already gone).
"""

from __future__ import annotations

from contivpp.errors import VPPApiError
from contivpp.model.vpp import AfPacketLink, Interface
from contivpp.vpp import retvals as rv
from contivpp.vpp.client import VPPClient

MODE_ETHERNET = 1  # AF_PACKET_API_MODE_ETHERNET
#: AF_PACKET_API_FLAG_QDISC_BYPASS | AF_PACKET_API_FLAG_CKSUM_GSO (af_packet_create's default).
FLAGS = 1 | 2


async def create(client: VPPClient, itf: Interface) -> int:
    link = itf.af_packet
    assert link is not None  # validated by the interface descriptor
    reply = await client.call(
        "af_packet_create_v3",
        mode=MODE_ETHERNET,
        hw_addr=itf.mac or "00:00:00:00:00:00",
        use_random_hw_addr=not itf.mac,
        host_if_name=link.host_if_name,
        rx_frame_size=0,
        tx_frame_size=0,
        rx_frames_per_block=0,
        tx_frames_per_block=0,
        flags=FLAGS,
        num_rx_queues=1,
        num_tx_queues=1,
    )
    return int(reply.sw_if_index)


async def delete(client: VPPClient, itf: Interface, sw_if_index: int) -> None:
    link = itf.af_packet
    assert link is not None
    try:
        await client.call("af_packet_delete", host_if_name=link.host_if_name)
    except VPPApiError as exc:
        if exc.retval != rv.SYSCALL_ERROR_1:  # af_packet_delete_if: no such host-interface
            raise


async def read(client: VPPClient) -> dict[int, AfPacketLink]:
    """Every host-interface's Linux interface, by sw_if_index."""
    return {
        int(d.sw_if_index): AfPacketLink(host_if_name=d.host_if_name)
        for d in await client.dump("af_packet_dump")
    }
