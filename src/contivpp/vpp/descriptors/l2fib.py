"""Static L2 FIB entries: frames to a MAC in a bridge domain go out one interface.

With learning off in Contiv's VXLAN bridge domain, each remote node's BVI MAC gets a static
entry pointing at the tunnel to that node. VPP accepts an entry only for an interface that is
bridged, so an entry depends on the interface's membership of that bridge domain (which in
turn needs the domain and the interface). Only static entries are read back; learned ones are
VPP's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.vpp import L2FibEntry
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, check_mac


class L2FibDescriptor(VppDescriptor[L2FibEntry, None]):
    name = "vpp-l2fib"
    key_prefix = keys.L2FIB_PREFIX
    supports_update = True
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: L2FibEntry) -> Key:
        return keys.l2fib(value.bridge_domain, value.mac)

    def check(self, key: Key, value: L2FibEntry) -> None:
        check_mac(key, "mac", value.mac)

    def dependencies(self, key: Key, value: L2FibEntry) -> Sequence[Dependency]:
        member = keys.bridge_domain_interface(value.bridge_domain, value.interface)
        return [Dependency(label="bridged interface", key=member)]

    async def create(self, key: Key, value: L2FibEntry) -> None:
        await self._add(value)

    async def update(self, key: Key, old: L2FibEntry, new: L2FibEntry, metadata: None) -> None:
        await self._add(new)  # VPP overwrites the entry of that MAC

    async def delete(self, key: Key, value: L2FibEntry, metadata: None) -> None:
        index = self.interfaces.lookup(value.interface)
        await self.call_gone_ok(
            "l2fib_add_del",
            is_add=False,
            mac=value.mac,
            bd_id=value.bd_id,
            sw_if_index=NO_INDEX if index is None else index,
        )

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        domains, entries = await asyncio.gather(
            self.client.dump("bridge_domain_dump", bd_id=NO_INDEX, sw_if_index=NO_INDEX),
            self.client.dump("l2_fib_table_dump", bd_id=NO_INDEX),
        )
        names = {int(d.bd_id): d.bd_tag for d in domains if d.bd_tag}
        believed = {item.key for item in correlate}
        found = []
        for e in entries:
            bd_name = names.get(int(e.bd_id))
            interface = self.interfaces.name_of(int(e.sw_if_index))
            if bd_name is None or interface is None or e.filter_mac:
                continue
            value = L2FibEntry(
                bd_name, int(e.bd_id), str(e.mac), interface, bool(e.static_mac), bool(e.bvi_mac)
            )
            key = self.key_of(value)
            if value.static or key in believed:  # a learned entry is ours only if we asked
                found.append((key, value, None))
        return self.prefer_believed(correlate, found)

    async def _add(self, value: L2FibEntry) -> None:
        await self.call(
            "l2fib_add_del",
            is_add=True,
            mac=value.mac,
            bd_id=value.bd_id,
            sw_if_index=self.interfaces.require(value.interface),
            static_mac=value.static,
            filter_mac=False,
            bvi_mac=value.bvi,
        )
