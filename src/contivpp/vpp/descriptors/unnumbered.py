"""Unnumbered interfaces, derived from :class:`~contivpp.model.vpp.Interface` values.

Every pod TAP borrows the pod gateway loopback's address instead of holding one, so one subnet
serves all pods of a node. The setting depends on the donor interface existing; it is read
back as part of the borrowing interface.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.vpp import Unnumbered
from contivpp.reconcile.api import Dependency, Key
from contivpp.vpp.descriptors.base import VppDescriptor


class UnnumberedDescriptor(VppDescriptor[Unnumbered, None]):
    name = "vpp-unnumbered"
    key_prefix = keys.UNNUMBERED_PREFIX
    supports_update = True

    def key_of(self, value: Unnumbered) -> Key:
        return keys.unnumbered(value.interface)

    def dependencies(self, key: Key, value: Unnumbered) -> Sequence[Dependency]:
        return [Dependency(label="address donor", key=keys.interface(value.address_from))]

    async def create(self, key: Key, value: Unnumbered) -> None:
        await self._set(value)

    async def update(self, key: Key, old: Unnumbered, new: Unnumbered, metadata: None) -> None:
        await self._set(new)  # VPP replaces the donor in place

    async def delete(self, key: Key, value: Unnumbered, metadata: None) -> None:
        borrower = self.interfaces.lookup(value.interface)
        if borrower is None:
            return
        # VPP validates the donor index even on removal: use the borrower's if the donor is gone.
        donor = self.interfaces.lookup(value.address_from)
        await self.call_gone_ok(
            "sw_interface_set_unnumbered",
            sw_if_index=borrower if donor is None else donor,
            unnumbered_sw_if_index=borrower,
            is_add=False,
        )

    async def _set(self, value: Unnumbered) -> None:
        # The field names are VPP's: sw_if_index lends its addresses to unnumbered_sw_if_index.
        await self.call(
            "sw_interface_set_unnumbered",
            sw_if_index=self.interfaces.require(value.address_from),
            unnumbered_sw_if_index=self.interfaces.require(value.interface),
            is_add=True,
        )
