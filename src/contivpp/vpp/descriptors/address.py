"""Interface IP addresses, derived from :class:`~contivpp.model.vpp.Interface` values.

Each address is its own value so that adding or removing one never recreates the interface,
and so that addresses are only added after the interface exists and sits in its VRF (VPP
refuses a VRF change while an interface has addresses). Addresses are read back as part of
their interface; this descriptor has no ``retrieve`` of its own.
"""

from __future__ import annotations

from contivpp.model import keys
from contivpp.model.vpp import InterfaceAddress
from contivpp.reconcile.api import Key
from contivpp.vpp.descriptors.base import VppDescriptor, check_cidr


class AddressDescriptor(VppDescriptor[InterfaceAddress, None]):
    name = "vpp-interface-address"
    key_prefix = keys.ADDRESS_PREFIX

    def key_of(self, value: InterfaceAddress) -> Key:
        return keys.address(value.interface, value.cidr)

    def check(self, key: Key, value: InterfaceAddress) -> None:
        check_cidr(key, "cidr", value.cidr, host_bits=True)

    async def create(self, key: Key, value: InterfaceAddress) -> None:
        index = self.interfaces.require(value.interface)
        await self.call(
            "sw_interface_add_del_address", sw_if_index=index, is_add=True, prefix=value.cidr
        )

    async def delete(self, key: Key, value: InterfaceAddress, metadata: None) -> None:
        index = self.interfaces.lookup(value.interface)
        if index is None:
            return  # the interface is gone, and its addresses with it
        await self.call_gone_ok(
            "sw_interface_add_del_address", sw_if_index=index, is_add=False, prefix=value.cidr
        )
