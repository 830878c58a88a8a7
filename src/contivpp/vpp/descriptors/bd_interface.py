"""Bridge-domain membership, derived from :class:`~contivpp.model.vpp.BridgeDomain` values.

Putting an interface into a bridge domain (as a normal port or as the BVI, with its
split-horizon group) depends on the interface existing; it is read back as part of the bridge
domain. Changing the port type or group is one call: VPP moves the interface in place.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.vpp import BridgeDomainInterface
from contivpp.reconcile.api import Dependency, Key
from contivpp.vpp.descriptors.base import VppDescriptor, check_range

PORT_NORMAL = 0
PORT_BVI = 1


class BridgeDomainInterfaceDescriptor(VppDescriptor[BridgeDomainInterface, None]):
    name = "vpp-bridge-domain-interface"
    key_prefix = keys.BD_INTERFACE_PREFIX
    supports_update = True

    def key_of(self, value: BridgeDomainInterface) -> Key:
        return keys.bridge_domain_interface(value.bridge_domain, value.member.interface)

    def check(self, key: Key, value: BridgeDomainInterface) -> None:
        check_range(key, "member.split_horizon_group", value.member.split_horizon_group, 0, 255)

    def dependencies(self, key: Key, value: BridgeDomainInterface) -> Sequence[Dependency]:
        return [Dependency(label="interface", key=keys.interface(value.member.interface))]

    async def create(self, key: Key, value: BridgeDomainInterface) -> None:
        await self._join(value)

    async def update(
        self, key: Key, old: BridgeDomainInterface, new: BridgeDomainInterface, metadata: None
    ) -> None:
        await self._join(new)

    async def delete(self, key: Key, value: BridgeDomainInterface, metadata: None) -> None:
        index = self.interfaces.lookup(value.member.interface)
        if index is not None:  # else the interface left with its deletion
            await self.call_gone_ok(
                "sw_interface_set_l2_bridge", rx_sw_if_index=index, bd_id=value.bd_id, enable=False
            )

    async def _join(self, value: BridgeDomainInterface) -> None:
        member = value.member
        await self.call(
            "sw_interface_set_l2_bridge",
            rx_sw_if_index=self.interfaces.require(member.interface),
            bd_id=value.bd_id,
            port_type=PORT_BVI if member.bvi else PORT_NORMAL,
            shg=member.split_horizon_group,
            enable=True,
        )
