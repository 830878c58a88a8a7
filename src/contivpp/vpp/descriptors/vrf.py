"""VRF tables (IPv4): creation, deletion and reading them back.

Interfaces, routes and VXLAN tunnels in a non-zero VRF depend on its table, so the scheduler
creates the table first and removes it last. Table 0 always exists and cannot be named or
deleted: its value is accepted whatever its name, read back as VPP's own (southbound-owned,
never deleted), and needs no call. An empty name leaves naming to VPP (``ipv4-VRF:<id>``); VPP
cannot rename a table, so a new name recreates it.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.vpp import VrfTable
from contivpp.reconcile.api import Correlated, Key, Origin, Retrieved
from contivpp.vpp.descriptors.base import (
    NO_INDEX,
    VppDescriptor,
    check_range,
    check_tag,
)


class VrfDescriptor(VppDescriptor[VrfTable, None]):
    name = "vpp-vrf"
    key_prefix = keys.VRF_PREFIX
    supports_retrieve = True

    def key_of(self, value: VrfTable) -> Key:
        return keys.vrf(value.table_id)

    def check(self, key: Key, value: VrfTable) -> None:
        check_range(key, "table_id", value.table_id, 0, NO_INDEX - 1)
        check_tag(key, "name", value.name)

    def equivalent(self, key: Key, old: VrfTable, new: VrfTable) -> bool:
        if old.table_id != new.table_id:
            return False
        # VPP names table 0, and any table created without a name, itself.
        return new.table_id == 0 or not new.name or old.name == new.name

    async def create(self, key: Key, value: VrfTable) -> None:
        if value.table_id:
            await self._add_del(value, is_add=True)

    async def delete(self, key: Key, value: VrfTable, metadata: None) -> None:
        if value.table_id:
            await self._add_del(value, is_add=False)  # deleting a missing table returns 0

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        tables = [d.table for d in await self.client.dump("ip_table_dump")]
        found = [
            (keys.vrf(t["table_id"]), VrfTable(t["table_id"], t["name"]), None)
            for t in tables
            if not t["is_ip6"]
        ]
        main = keys.vrf(0)
        retrieved = self.prefer_believed(correlate, [f for f in found if f[0] != main])
        believed = {item.key: item.value for item in correlate}
        vpp_own = next((f[1] for f in found if f[0] == main), VrfTable(0))
        value = believed.get(main, vpp_own)
        # Table 0 is VPP's: if we asked for it we own the value, otherwise nobody deletes it.
        return [*retrieved, Retrieved(key=main, value=value, origin=Origin.SB)]

    async def _add_del(self, value: VrfTable, *, is_add: bool) -> None:
        table = {"table_id": value.table_id, "is_ip6": False, "name": value.name}
        await self.call("ip_table_add_del", is_add=is_add, table=table)
