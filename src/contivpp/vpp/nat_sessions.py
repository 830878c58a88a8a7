"""Deleting the NAT44-ED sessions towards a backend that went away (issue 10, stale sessions).

Removing a backend from a mapping stops new connections to it, but an established session keeps
translating a client's packets to the dead address until it times out (minutes for TCP, and a
UDP client that keeps sending never lets it expire). kube-proxy clears conntrack for UDP; the
agent calls :func:`delete_sessions_towards` for every protocol when an endpoint is removed.
Sessions are not desired state (VPP creates them per connection), so this is a one-shot
operation on the client rather than a descriptor.

VPP v26.06 lists sessions per "user", the inside address (``nat44_user_session_v3_dump``), and
deletes one by a flow key (``nat44_del_session``): for a session towards a backend the in2out
key, (backend, backend port, remote as the backend sees it, its port, VRF, protocol), where the
remote is the twice-NAT address when the session was twice-NATed.
"""

from __future__ import annotations

import ipaddress

import structlog

from contivpp.errors import VPPApiError
from contivpp.model.nat import NatProtocol
from contivpp.vpp import retvals as rv
from contivpp.vpp.client import Message, VPPClient
from contivpp.vpp.descriptors.nat44 import protocol_number

log = structlog.get_logger(__name__)

IS_TWICE_NAT = 0x01
IS_INSIDE = 0x20


async def delete_sessions_towards(
    client: VPPClient, ip: str, port: int, protocol: NatProtocol, *, vrf: int = 0
) -> int:
    """Delete every NAT session whose inside end is ``ip``:``port`` over ``protocol`` in
    ``vrf``; returns how many were deleted. A session that ends meanwhile counts as deleted."""
    address = ipaddress.IPv4Address(ip)  # ValueError for anything but an IPv4 address
    number = protocol_number(protocol)
    sessions = await client.dump("nat44_user_session_v3_dump", ip_address=address, vrf_id=vrf)
    deleted = 0
    for session in sessions:
        if int(session.inside_port) != port or int(session.protocol) != number:
            continue
        await _delete(client, session, address, port, number, vrf)
        deleted += 1
    log.info(
        "vpp_nat_sessions_deleted", backend=f"{ip}:{port}", protocol=protocol, sessions=deleted
    )
    return deleted


async def _delete(
    client: VPPClient,
    session: Message,
    address: ipaddress.IPv4Address,
    port: int,
    number: int,
    vrf: int,
) -> None:
    twice = int(session.flags) & IS_TWICE_NAT
    try:
        await client.call(
            "nat44_del_session",
            address=address,
            port=port,
            protocol=number,
            vrf_id=vrf,
            flags=IS_INSIDE,
            ext_host_address=session.ext_host_nat_address if twice else session.ext_host_address,
            ext_host_port=session.ext_host_nat_port if twice else session.ext_host_port,
        )
    except VPPApiError as exc:
        if exc.retval != rv.NO_SUCH_ENTRY:  # else it expired between the dump and the delete
            raise
