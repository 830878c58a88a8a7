"""NAT44 identity mappings: traffic to these addresses (and ports) is never translated.

Contiv exempts the node's own address (and its VXLAN port) so that traffic to the node itself
and the overlay survive dynamic SNAT. The address is given, or taken from an interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contivpp.model import keys
from contivpp.model.nat import Nat44IdentityMapping
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.descriptors.base import (
    NO_INDEX,
    VppDescriptor,
    check_ip,
    check_range,
    check_tag,
    invalid,
)
from contivpp.vpp.descriptors.nat44 import (
    ADDR_ONLY,
    PLUGIN,
    check_port,
    protocol_name,
    protocol_number,
)


class Nat44IdentityMappingDescriptor(VppDescriptor[Nat44IdentityMapping, None]):
    name = "vpp-nat44-identity-mapping"
    key_prefix = keys.NAT44_IDENTITY_PREFIX
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: Nat44IdentityMapping) -> Key:
        target = value.interface or value.ip
        return keys.nat44_identity_mapping(value.vrf, target, value.protocol, value.port)

    def check(self, key: Key, value: Nat44IdentityMapping) -> None:
        if bool(value.ip) == bool(value.interface):
            raise invalid(key, "ip", "give exactly one of ip, interface")
        if value.ip:
            check_ip(key, "ip", value.ip)
        check_port(key, "port", value.port)
        if value.protocol is None and value.port:
            raise invalid(key, "port", "an address-only mapping (protocol None) has no port")
        check_range(key, "vrf", value.vrf, 0, NO_INDEX - 1)
        check_tag(key, "label", value.label)

    def dependencies(self, key: Key, value: Nat44IdentityMapping) -> Sequence[Dependency]:
        if not value.interface:
            return [PLUGIN]
        return [PLUGIN, Dependency(label="interface", key=keys.interface(value.interface))]

    async def create(self, key: Key, value: Nat44IdentityMapping) -> None:
        await self.call("nat44_add_del_identity_mapping", is_add=True, **self._fields(value))

    async def delete(self, key: Key, value: Nat44IdentityMapping, metadata: None) -> None:
        if value.interface and self.interfaces.lookup(value.interface) is None:
            return  # VPP removed it with the interface
        await self.call_gone_ok(
            "nat44_add_del_identity_mapping", is_add=False, **self._fields(value)
        )

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        found = []
        for d in await self.client.dump("nat44_identity_mapping_dump"):
            flags, protocol = int(d.flags), protocol_name(int(d.protocol))
            if protocol is None and not flags & ADDR_ONLY:
                continue  # a protocol the model cannot name: not one of ours
            interface = ""
            if d.sw_if_index != NO_INDEX:
                interface = self.interfaces.name_of(int(d.sw_if_index)) or ""
                if not interface:
                    continue
            value = Nat44IdentityMapping(
                ip="" if interface else str(d.ip_address),
                interface=interface,
                protocol=protocol,
                port=int(d.port),
                vrf=int(d.vrf_id),
                label=d.tag,
            )
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    def _fields(self, value: Nat44IdentityMapping) -> dict[str, Any]:
        index = NO_INDEX
        if value.interface:
            index = self.interfaces.require(value.interface)
        return {
            "flags": ADDR_ONLY if value.protocol is None else 0,
            "ip_address": value.ip or "0.0.0.0",
            "protocol": protocol_number(value.protocol),
            "port": value.port,
            "sw_if_index": index,
            "vrf_id": value.vrf,
            "tag": value.label,
        }
