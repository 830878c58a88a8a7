"""L2 bridge domains; each member interface is a derived value (:mod:`.bd_interface`).

Contiv joins the VXLAN tunnels to all other nodes and a BVI loopback in one bridge domain with
learning and flooding off. The bridge domain's name is stored as its VPP tag, which is how a
resync recognises it. Members are derived values so that a node joining the cluster adds one
member instead of recreating the domain; VPP cannot change a domain's flags in place through
the calls we use, so any other change recreates it (members leave first, join again after).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from contivpp.model import keys
from contivpp.model.vpp import BridgeDomain, BridgeDomainInterface, BridgeDomainMember
from contivpp.reconcile.api import Correlated, Key, KeyValue, Retrieved
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, check_name, check_range, invalid

BD_ID_MAX = (1 << 24) - 1


def _settings(value: BridgeDomain) -> BridgeDomain:
    """Everything but the members (which are derived values with their own lifecycle)."""
    return attrs.evolve(value, members=())


class BridgeDomainDescriptor(VppDescriptor[BridgeDomain, None]):
    name = "vpp-bridge-domain"
    key_prefix = keys.BD_PREFIX
    supports_update = True
    supports_retrieve = True
    retrieve_after = ("vpp-interface",)

    def key_of(self, value: BridgeDomain) -> Key:
        return keys.bridge_domain(value.name)

    def check(self, key: Key, value: BridgeDomain) -> None:
        check_name(key, "name", value.name)
        check_range(key, "bd_id", value.bd_id, 1, BD_ID_MAX)
        names = [m.interface for m in value.members]
        if len(set(names)) != len(names):
            raise invalid(key, "members", "lists an interface twice")
        if sum(m.bvi for m in value.members) > 1:
            raise invalid(key, "members", "a bridge domain has at most one BVI")

    def equivalent(self, key: Key, old: BridgeDomain, new: BridgeDomain) -> bool:
        return _settings(old) == _settings(new) and set(old.members) == set(new.members)

    def derived_values(self, key: Key, value: BridgeDomain) -> Sequence[KeyValue]:
        return [
            KeyValue(
                keys.bridge_domain_interface(value.name, m.interface),
                BridgeDomainInterface(value.name, value.bd_id, m),
            )
            for m in value.members
        ]

    def update_with_recreate(
        self, key: Key, old: BridgeDomain, new: BridgeDomain, metadata: None
    ) -> bool:
        return _settings(old) != _settings(new)

    async def create(self, key: Key, value: BridgeDomain) -> None:
        await self.call(
            "bridge_domain_add_del_v2",
            is_add=True,
            bd_id=value.bd_id,
            flood=value.flood,
            uu_flood=value.uu_flood,
            forward=value.forward,
            learn=value.learn,
            arp_term=value.arp_termination,
            arp_ufwd=False,
            mac_age=0,
            bd_tag=value.name,
        )

    async def update(self, key: Key, old: BridgeDomain, new: BridgeDomain, metadata: None) -> None:
        """Only the members changed: their derived values do the work."""

    async def delete(self, key: Key, value: BridgeDomain, metadata: None) -> None:
        await self.call_gone_ok("bridge_domain_add_del_v2", is_add=False, bd_id=value.bd_id)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        details = await self.client.dump("bridge_domain_dump", bd_id=NO_INDEX, sw_if_index=NO_INDEX)
        found = []
        for d in details:
            if not d.bd_tag:
                continue  # not created by us (e.g. implicitly by an L2 bridge call)
            members = []
            for member in d.sw_if_details:
                index = int(member["sw_if_index"])
                name = self.interfaces.name_of(index)
                if name is not None:
                    bvi = index == d.bvi_sw_if_index
                    members.append(BridgeDomainMember(name, bvi, int(member["shg"])))
            value = BridgeDomain(
                name=d.bd_tag,
                bd_id=int(d.bd_id),
                flood=bool(d.flood),
                uu_flood=bool(d.uu_flood),
                learn=bool(d.learn),
                forward=bool(d.forward),
                arp_termination=bool(d.arp_term),
                members=tuple(members),
            )
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)
