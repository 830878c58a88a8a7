"""NAT44 static mappings: one external address (and port) to one local address.

Contiv renders a service with one backend this way (several backends use :mod:`.nat_lb`). The
external address is either given or taken from an interface (``external_interface``), which
VPP resolves itself, also once the interface gets its address later. VPP cannot modify a
mapping, so every change recreates it. The label is stored as VPP's tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contivpp.model import keys
from contivpp.model.nat import Nat44StaticMapping
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
    OUT2IN_ONLY,
    PLUGIN,
    check_port,
    mapping_flags,
    protocol_name,
    protocol_number,
    twice_nat_of,
)


class Nat44StaticMappingDescriptor(VppDescriptor[Nat44StaticMapping, None]):
    name = "vpp-nat44-static-mapping"
    key_prefix = keys.NAT44_STATIC_PREFIX
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: Nat44StaticMapping) -> Key:
        external = value.external_interface or value.external_ip
        return keys.nat44_static_mapping(external, value.protocol, value.external_port)

    def check(self, key: Key, value: Nat44StaticMapping) -> None:
        check_ip(key, "local_ip", value.local_ip)
        if bool(value.external_ip) == bool(value.external_interface):
            raise invalid(key, "external_ip", "give exactly one of external_ip, interface")
        if value.external_ip:
            check_ip(key, "external_ip", value.external_ip)
        check_port(key, "local_port", value.local_port)
        check_port(key, "external_port", value.external_port)
        if value.protocol is None and (value.local_port or value.external_port):
            raise invalid(key, "protocol", "an address-only mapping (None) has no ports")
        if value.protocol is None and value.twice_nat != "disabled":
            raise invalid(key, "twice_nat", "VPP has no twice-NAT for address-only mappings")
        check_range(key, "vrf", value.vrf, 0, NO_INDEX - 1)
        check_tag(key, "label", value.label)

    def dependencies(self, key: Key, value: Nat44StaticMapping) -> Sequence[Dependency]:
        deps = [PLUGIN]
        if value.external_interface:
            interface = keys.interface(value.external_interface)
            deps.append(Dependency(label="external interface", key=interface))
        return deps

    async def create(self, key: Key, value: Nat44StaticMapping) -> None:
        await self.call("nat44_add_del_static_mapping_v2", is_add=True, **self._fields(value))

    async def delete(self, key: Key, value: Nat44StaticMapping, metadata: None) -> None:
        if value.external_interface and self.interfaces.lookup(value.external_interface) is None:
            return  # VPP removed it with the interface
        await self.call_gone_ok(
            "nat44_add_del_static_mapping_v2", is_add=False, **self._fields(value)
        )

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        found = []
        for d in await self.client.dump("nat44_static_mapping_dump"):
            flags = int(d.flags)
            protocol = protocol_name(int(d.protocol))
            interface = ""
            if d.external_sw_if_index != NO_INDEX:
                interface = self.interfaces.name_of(int(d.external_sw_if_index)) or ""
                if not interface:
                    continue
            if protocol is None and not flags & ADDR_ONLY:
                continue  # a protocol the model cannot name: not one of ours
            value = Nat44StaticMapping(
                local_ip=str(d.local_ip_address),
                external_ip="" if interface else str(d.external_ip_address),
                external_interface=interface,
                protocol=protocol,
                local_port=int(d.local_port),
                external_port=int(d.external_port),
                vrf=int(d.vrf_id),
                twice_nat=twice_nat_of(flags),
                out2in_only=bool(flags & OUT2IN_ONLY),
                label=d.tag,
            )
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    def _fields(self, value: Nat44StaticMapping) -> dict[str, Any]:
        address_only = value.protocol is None
        external_index = NO_INDEX
        if value.external_interface:
            external_index = self.interfaces.require(value.external_interface)
        return {
            "flags": mapping_flags(
                value.twice_nat, out2in_only=value.out2in_only, address_only=address_only
            ),
            "local_ip_address": value.local_ip,
            "external_ip_address": value.external_ip or "0.0.0.0",
            "protocol": protocol_number(value.protocol),
            "local_port": value.local_port,
            "external_port": value.external_port,
            "external_sw_if_index": external_index,
            "vrf_id": value.vrf,
            "tag": value.label,
            "match_pool": False,
        }
