"""Static ARP / neighbour entries.

VPP reaches a pod through a /32 route plus a static ARP entry for the pod's MAC, and remote
nodes' BVIs through static entries too (learning is off in the VXLAN bridge domain). Only
static entries are ours: dynamic ones are VPP's ARP cache and are never read back as values.
Re-adding an entry with another MAC updates it in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.vpp import Neighbor
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, check_ip, check_mac

STATIC = 1
AF_IP4 = 0
AF_IP6 = 1


class NeighborDescriptor(VppDescriptor[Neighbor, None]):
    name = "vpp-neighbor"
    key_prefix = keys.NEIGHBOR_PREFIX
    supports_update = True
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: Neighbor) -> Key:
        return keys.neighbor(value.interface, value.ip)

    def check(self, key: Key, value: Neighbor) -> None:
        check_ip(key, "ip", value.ip)
        check_mac(key, "mac", value.mac)

    def dependencies(self, key: Key, value: Neighbor) -> Sequence[Dependency]:
        return [Dependency(label="interface", key=keys.interface(value.interface))]

    async def create(self, key: Key, value: Neighbor) -> None:
        await self._add_del(value, self.interfaces.require(value.interface), is_add=True)

    async def update(self, key: Key, old: Neighbor, new: Neighbor, metadata: None) -> None:
        await self._add_del(new, self.interfaces.require(new.interface), is_add=True)

    async def delete(self, key: Key, value: Neighbor, metadata: None) -> None:
        index = self.interfaces.lookup(value.interface)
        if index is not None:  # else the interface took its entries with it
            await self._add_del(value, index, is_add=False)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        dumps = await asyncio.gather(
            *(
                self.client.dump("ip_neighbor_dump", sw_if_index=NO_INDEX, af=af)
                for af in (AF_IP4, AF_IP6)
            )
        )
        found = []
        for d in (d for details in dumps for d in details):
            entry = d.neighbor
            name = self.interfaces.name_of(int(entry["sw_if_index"]))
            if name is None or not entry["flags"] & STATIC:
                continue
            value = Neighbor(name, str(entry["ip_address"]), str(entry["mac_address"]))
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    async def _add_del(self, value: Neighbor, index: int, *, is_add: bool) -> None:
        neighbor = {
            "sw_if_index": index,
            "flags": STATIC,
            "mac_address": value.mac,
            "ip_address": value.ip,
        }
        if is_add:
            await self.call("ip_neighbor_add_del", is_add=True, neighbor=neighbor)
        else:
            await self.call_gone_ok("ip_neighbor_add_del", is_add=False, neighbor=neighbor)
