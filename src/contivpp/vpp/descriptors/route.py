"""Static routes: one value per path, so several values with one destination are one multipath
VPP route.

Routes are keyed by VRF, destination, next hop and interface, because that is what renderers
know; VPP keys a route by VRF and prefix and holds a set of paths. Each value therefore adds or
removes exactly its own path (``is_multipath``), and two values for one prefix never replace
each other. Besides "via next hop / out interface" a path can be an inter-VRF lookup
(``next_hop_vrf``: resolve in another table, how Contiv links the pod and main VRFs) or a drop.

Reading back uses ``ip_route_v2_dump`` restricted to the API source, which leaves out the
routes VPP installs itself (connected, local, special prefixes).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

from contivpp.model import keys
from contivpp.model.vpp import Route
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.client import Message
from contivpp.vpp.descriptors.base import (
    NO_INDEX,
    VppDescriptor,
    check_cidr,
    check_ip,
    check_range,
    invalid,
)
from contivpp.vpp.ifindex import InterfaceIndex

PATH_NORMAL = 0
PATH_DROP = 2
PATH_ICMP_UNREACH = 5  # FIB_API_PATH_TYPE_ICMP_UNREACH (fib_types.api)
PROTO_IP4 = 0
FIB_SOURCE_API = 8


def _nh(address: str) -> dict[str, Any]:
    return {"address": {"ip4": address or "0.0.0.0"}}


class RouteDescriptor(VppDescriptor[Route, None]):
    name = "vpp-route"
    key_prefix = keys.ROUTE_PREFIX
    supports_retrieve = True
    retrieve_after = ("vpp-interface", "vpp-vrf")

    def key_of(self, value: Route) -> Key:
        return keys.route(value.vrf, value.dst, value.next_hop, value.out_interface)

    def check(self, key: Key, value: Route) -> None:
        check_range(key, "vrf", value.vrf, 0, NO_INDEX - 1)
        check_cidr(key, "dst", value.dst, host_bits=False)
        if ":" in value.dst:
            raise invalid(key, "dst", "IPv6 routes are not supported (VRF tables are IPv4)")
        if value.next_hop:
            check_ip(key, "next_hop", value.next_hop)
        if value.drop and value.unreachable:
            raise invalid(key, "unreachable", "a route drops or answers unreachable, not both")
        if value.drop or value.unreachable:
            if value.next_hop or value.out_interface or value.next_hop_vrf is not None:
                field = "drop" if value.drop else "unreachable"
                raise invalid(key, field, f"a {field} route has no next hop, interface or VRF")
        elif value.next_hop_vrf is not None:
            check_range(key, "next_hop_vrf", value.next_hop_vrf, 0, NO_INDEX - 1)
            if value.out_interface or value.next_hop_vrf == value.vrf:
                raise invalid(key, "next_hop_vrf", "names another VRF, without out_interface")
        elif not (value.next_hop or value.out_interface):
            raise invalid(key, "next_hop", "a route needs a next hop, interface, VRF or drop")

    def dependencies(self, key: Key, value: Route) -> Sequence[Dependency]:
        deps = [
            Dependency(label=f"vrf {vrf}", key=keys.vrf(vrf))
            for vrf in sorted({value.vrf, value.next_hop_vrf or 0} - {0})
        ]
        if value.out_interface:
            deps.append(Dependency(label="interface", key=keys.interface(value.out_interface)))
        return deps

    async def create(self, key: Key, value: Route) -> None:
        await self._add_del(value, is_add=True)

    async def delete(self, key: Key, value: Route, metadata: None) -> None:
        await self._add_del(value, is_add=False)  # removing a missing path returns 0

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        tables = sorted(
            {
                int(d.table["table_id"])
                for d in await self.client.dump("ip_table_dump")
                if not d.table["is_ip6"]
            }
        )
        dumps = await asyncio.gather(
            *(
                self.client.dump("ip_route_v2_dump", src=FIB_SOURCE_API, table={"table_id": t})
                for t in tables
            )
        )
        found = [
            (self.key_of(route), route, None)
            for vrf, details in zip(tables, dumps, strict=True)
            for route in _routes(vrf, details, self.interfaces)
        ]
        return self.prefer_believed(correlate, found)

    async def _add_del(self, value: Route, *, is_add: bool) -> None:
        path: dict[str, Any] = {
            "sw_if_index": NO_INDEX,
            "table_id": value.vrf,
            "weight": 1,
            "type": PATH_NORMAL,
            "proto": PROTO_IP4,
            "nh": _nh(value.next_hop),
        }
        if value.drop:
            path["type"] = PATH_DROP
        elif value.unreachable:
            path["type"] = PATH_ICMP_UNREACH
        elif value.out_interface:
            if is_add:
                path["sw_if_index"] = self.interfaces.require(value.out_interface)
            else:
                index = self.interfaces.lookup(value.out_interface)
                if index is None:
                    return  # its interface is gone; VPP cannot resolve the path any more
                path["sw_if_index"] = index
        elif value.next_hop_vrf is not None:
            path["table_id"] = value.next_hop_vrf
        route = {"table_id": value.vrf, "prefix": value.dst, "paths": [path]}
        await self.call("ip_route_add_del", is_add=is_add, is_multipath=True, route=route)


def _routes(vrf: int, details: Sequence[Message], names: InterfaceIndex) -> Iterator[Route]:
    """The Route values of one table's API-sourced FIB entries (one per path)."""
    for d in details:
        dst = str(d.route["prefix"])
        for p in d.route["paths"]:
            if p["type"] == PATH_DROP:
                yield Route(vrf=vrf, dst=dst, drop=True)
                continue
            if p["type"] == PATH_ICMP_UNREACH:
                yield Route(vrf=vrf, dst=dst, unreachable=True)
                continue
            if p["type"] != PATH_NORMAL or p["proto"] != PROTO_IP4:
                continue  # kinds of path we never create
            address = ipaddress.IPv4Address(p["nh"]["address"]["ip4"])
            next_hop = "" if address.is_unspecified else str(address)
            if p["sw_if_index"] != NO_INDEX:
                name = names.name_of(int(p["sw_if_index"]))
                if name is not None:  # else: via a deleted interface, left unresolved by VPP
                    yield Route(vrf=vrf, dst=dst, next_hop=next_hop, out_interface=name)
            elif p["table_id"] == vrf and next_hop:
                yield Route(vrf=vrf, dst=dst, next_hop=next_hop)
            else:
                yield Route(vrf=vrf, dst=dst, next_hop=next_hop, next_hop_vrf=int(p["table_id"]))
