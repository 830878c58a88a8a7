"""The agent's side of the STN API: steal the NIC at start, then keep it stolen.

The agent calls :func:`steal_interface` before it configures VPP (the reply is what the
host had: addresses and routes to move onto VPP and the host interconnect), then runs
:func:`keep_alive` as a supervised task for as long as it lives. When the agent dies the
calls stop and the daemon gives the NIC back to the host. Replies are typed here, so the
agent never handles protobuf messages.
"""

from __future__ import annotations

import asyncio
import ipaddress
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from pathlib import Path

import attrs
import grpc
import structlog

from contivpp.config import MainInterface
from contivpp.errors import ConfigError, STNError
from contivpp.stn.proto import stn_pb2, stn_pb2_grpc

log = structlog.get_logger("contivpp.stn.client")


@attrs.frozen
class StolenRoute:
    destination: ipaddress.IPv4Network | ipaddress.IPv6Network
    next_hop: IPv4Address | IPv6Address | None  # None: a link-scope route


@attrs.frozen
class StolenInterface:
    """What the host had on the NIC the daemon took for VPP."""

    name: str
    pci_address: str  # "" for a virtual NIC
    kernel_driver: str
    addresses: tuple[IPv4Interface | IPv6Interface, ...]
    routes: tuple[StolenRoute, ...]

    def main_interface(self) -> MainInterface:
        """VPP's uplink on this NIC: its first IPv4 address, the IPv4 default route's next
        hop as the gateway, its other IPv4 routes. IPv6 is left out (not modelled)."""
        ip4 = [a for a in self.addresses if isinstance(a, IPv4Interface)]
        if not ip4:
            raise STNError(
                f"STN daemon: {self.name} had no IPv4 address: the uplink needs one "
                "(DHCP and IPv6-only NICs are not supported)"
            )
        address = ip4[0]
        gateway, routes = "", []
        for r in self.routes:
            if not isinstance(r.destination, ipaddress.IPv4Network):
                continue
            via = str(r.next_hop) if r.next_hop is not None else ""
            if r.destination.prefixlen == 0:
                gateway = gateway or via
            elif not (r.destination == address.network and not via):  # the connected route
                routes.append({"dst": str(r.destination), **({"via": via} if via else {})})
        data = {"interface": self.name, "address": str(address), "routes": routes}
        try:
            return MainInterface.from_json({**data, "gateway": gateway}, "uplink")
        except ConfigError as exc:
            raise STNError(f"STN daemon: {self.name}: cannot be VPP's uplink: {exc}") from exc


def interface_from_reply(name: str, reply: stn_pb2.STNReply) -> StolenInterface:
    """Decode a reply; :class:`STNError` if it reports an error or carries a bad field."""
    if reply.result != 0:
        raise STNError(f"STN daemon: {name}: {reply.error or f'result {reply.result}'}")
    try:
        addresses = tuple(ipaddress.ip_interface(a) for a in reply.ip_addresses)
        routes = tuple(
            StolenRoute(
                ipaddress.ip_network(r.destination_subnet),
                ipaddress.ip_address(r.next_hop_ip) if r.next_hop_ip else None,
            )
            for r in reply.routes
        )
    except ValueError as exc:
        raise STNError(f"STN daemon: {name}: bad reply: {exc}") from exc
    return StolenInterface(name, reply.pci_address, reply.kernel_driver, addresses, routes)


async def _request(
    socket: Path, method: str, name: str, call_timeout: float, dhcp: bool = False
) -> stn_pb2.STNReply:
    request = stn_pb2.STNRequest(interface_name=name, dhcp_enabled=dhcp)
    try:
        async with grpc.aio.insecure_channel(f"unix://{socket}") as channel:
            stub = stn_pb2_grpc.STNStub(channel)  # type: ignore[no-untyped-call]
            reply: stn_pb2.STNReply = await getattr(stub, method)(request, timeout=call_timeout)
    except grpc.aio.AioRpcError as exc:
        raise STNError(f"STN daemon at {socket}: {method}: {exc.details()}") from exc
    return reply


async def _call(
    socket: Path, method: str, name: str, call_timeout: float, dhcp: bool = False
) -> StolenInterface:
    return interface_from_reply(name, await _request(socket, method, name, call_timeout, dhcp))


async def steal_interface(
    socket: Path, name: str, *, dhcp: bool = False, call_timeout: float = 10.0
) -> StolenInterface:
    """Have the daemon take ``name`` from the host (or tell again what it took)."""
    return await _call(socket, "StealInterface", name, call_timeout, dhcp)


async def stolen_interface_info(
    socket: Path, name: str, call_timeout: float = 5.0
) -> StolenInterface:
    """What the daemon took; also a keep-alive for ``name``."""
    return await _call(socket, "StolenInterfaceInfo", name, call_timeout)


async def release_interface(socket: Path, name: str, call_timeout: float = 10.0) -> StolenInterface:
    """Give ``name`` back to the host now (an orderly shutdown of the node's vswitch)."""
    return await _call(socket, "ReleaseInterface", name, call_timeout)


async def keep_alive(socket: Path, name: str, interval: float) -> None:
    """Call the daemon every ``interval`` s until cancelled.

    An unreachable daemon is logged and the loop goes on: it may be restarting, and its
    timeout (several intervals) is what decides, not one lost call. A daemon that answers
    that ``name`` is not stolen (it gave the NIC back: the agent was stalled too long) raises
    :class:`STNError`: the agent's view of the node is then wrong and it must start over.
    Choose ``interval`` at most a third of the daemon's ``--keepalive-timeout``.
    """
    failing = False
    while True:
        try:
            reply = await _request(socket, "StolenInterfaceInfo", name, call_timeout=interval)
        except STNError as exc:
            if not failing:
                log.warning("stn_keepalive_failed", interface=name, error=str(exc))
            failing = True
        else:
            interface_from_reply(name, reply)
            if failing:
                log.info("stn_keepalive_restored", interface=name)
            failing = False
        await asyncio.sleep(interval)
