"""NAT44 roles of an interface: inside, outside, and post-routing (output feature) NAT.

Contiv marks pod TAPs and the BVI inside / outside for service DNAT and puts dynamic SNAT on
the node's default interface as an output feature. The roles of one interface are one value;
an update removes the roles no longer wanted before adding new ones, because VPP refuses an
output-feature interface that still has an inside / outside role (and vice versa).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from contivpp.model import keys
from contivpp.model.nat import Nat44Interface
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.descriptors.base import VppDescriptor, invalid
from contivpp.vpp.descriptors.nat44 import IS_INSIDE, IS_OUTSIDE, PLUGIN

_FEATURE = "nat44_interface_add_del_feature"
_OUTPUT = "nat44_ed_add_del_output_interface"
#: role -> (message, extra fields)
_ROLES: dict[str, tuple[str, dict[str, Any]]] = {
    "inside": (_FEATURE, {"flags": IS_INSIDE}),
    "outside": (_FEATURE, {"flags": IS_OUTSIDE}),
    "output": (_OUTPUT, {}),
}


def _roles(value: Nat44Interface) -> list[str]:
    return [role for role in _ROLES if getattr(value, role)]


class Nat44InterfaceDescriptor(VppDescriptor[Nat44Interface, None]):
    name = "vpp-nat44-interface"
    key_prefix = keys.NAT44_INTERFACE_PREFIX
    supports_update = True
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: Nat44Interface) -> Key:
        return keys.nat44_interface(value.interface)

    def check(self, key: Key, value: Nat44Interface) -> None:
        if not _roles(value):
            raise invalid(key, "inside", "set at least one of inside, outside, output")
        if value.output and (value.inside or value.outside):
            raise invalid(key, "output", "excludes inside and outside (VPP refuses both)")

    def dependencies(self, key: Key, value: Nat44Interface) -> Sequence[Dependency]:
        return [PLUGIN, Dependency(label="interface", key=keys.interface(value.interface))]

    async def create(self, key: Key, value: Nat44Interface) -> None:
        await self._change(Nat44Interface(value.interface), value)

    async def update(
        self, key: Key, old: Nat44Interface, new: Nat44Interface, metadata: None
    ) -> None:
        await self._change(old, new)

    async def delete(self, key: Key, value: Nat44Interface, metadata: None) -> None:
        if self.interfaces.lookup(value.interface) is not None:  # else gone with its roles
            await self._change(value, Nat44Interface(value.interface))

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        features, outputs = await asyncio.gather(
            self.client.dump("nat44_interface_dump"),
            self.client.dump("nat44_ed_output_interface_get"),
        )
        roles: dict[int, dict[str, bool]] = {}
        for d in features:
            flags = int(d.flags)
            entry = roles.setdefault(int(d.sw_if_index), {})
            entry.update(inside=bool(flags & IS_INSIDE), outside=bool(flags & IS_OUTSIDE))
        for d in outputs:
            roles.setdefault(int(d.sw_if_index), {})["output"] = True
        found = []
        for index, entry in sorted(roles.items()):
            name = self.interfaces.name_of(index)
            if name is not None:
                value = Nat44Interface(name, **entry)
                found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    async def _change(self, old: Nat44Interface, new: Nat44Interface) -> None:
        index = self.interfaces.require(new.interface)
        before, after = _roles(old), _roles(new)
        for role in before:
            if role not in after:
                message, fields = _ROLES[role]
                await self.call_gone_ok(message, is_add=False, sw_if_index=index, **fields)
        for role in after:
            if role not in before:
                message, fields = _ROLES[role]
                await self.call(message, is_add=True, sw_if_index=index, **fields)
