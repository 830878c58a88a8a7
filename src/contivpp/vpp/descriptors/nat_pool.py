"""NAT44 address pools: the addresses dynamic SNAT and twice-NAT translate to.

VPP keeps single addresses, not ranges: a range is added address by address and the first
failure stops it, leaving the earlier ones in. So this descriptor adds one address per call and
takes back what it added if one fails, and reads pools back as addresses regrouped into the
believed ranges (or, for addresses no believed range claims, into runs of consecutive
addresses), so that a range reads back as one value.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator, Sequence

from contivpp.errors import VPPError
from contivpp.model import keys
from contivpp.model.nat import Nat44AddressPool
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, check_ip, check_range, invalid
from contivpp.vpp.descriptors.nat44 import PLUGIN, TWICE_NAT

IPv4 = ipaddress.IPv4Address
#: One pool address as VPP holds it: (address, twice-NAT, vrf or None).
Entry = tuple[IPv4, bool, int | None]


def _addresses(value: Nat44AddressPool) -> Iterator[IPv4]:
    first = IPv4(value.first_ip)
    last = IPv4(value.last_ip or value.first_ip)
    return (IPv4(n) for n in range(int(first), int(last) + 1))


def _entries(value: Nat44AddressPool) -> list[Entry]:
    return [(address, value.twice_nat, value.vrf) for address in _addresses(value)]


def _pool(first: IPv4, last: IPv4, twice_nat: bool, vrf: int | None) -> Nat44AddressPool:
    return Nat44AddressPool(str(first), "" if last == first else str(last), vrf, twice_nat)


class Nat44AddressPoolDescriptor(VppDescriptor[Nat44AddressPool, None]):
    name = "vpp-nat44-address-pool"
    key_prefix = keys.NAT44_POOL_PREFIX
    supports_retrieve = True

    def key_of(self, value: Nat44AddressPool) -> Key:
        return keys.nat44_address_pool(value.first_ip, value.last_ip, value.twice_nat)

    def check(self, key: Key, value: Nat44AddressPool) -> None:
        check_ip(key, "first_ip", value.first_ip)
        if ":" in value.first_ip:
            raise invalid(key, "first_ip", "NAT44 pools hold IPv4 addresses")
        if value.last_ip:
            check_ip(key, "last_ip", value.last_ip)
            if ":" in value.last_ip or IPv4(value.last_ip) <= IPv4(value.first_ip):
                raise invalid(key, "last_ip", "must be an IPv4 address above first_ip, or ''")
        if value.vrf is not None:
            check_range(key, "vrf", value.vrf, 0, NO_INDEX - 1)

    def dependencies(self, key: Key, value: Nat44AddressPool) -> Sequence[Dependency]:
        return [PLUGIN]

    async def create(self, key: Key, value: Nat44AddressPool) -> None:
        added: list[IPv4] = []
        try:
            for address in _addresses(value):
                await self._add_del(value, address, is_add=True)
                added.append(address)
        except BaseException:
            for address in reversed(added):  # leave nothing half-added behind
                with contextlib.suppress(VPPError):
                    await self._add_del(value, address, is_add=False)
            raise

    async def delete(self, key: Key, value: Nat44AddressPool, metadata: None) -> None:
        for address in _addresses(value):
            await self._add_del(value, address, is_add=False)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        present: set[Entry] = set()
        for d in await self.client.dump("nat44_address_dump"):
            vrf = None if d.vrf_id == NO_INDEX else int(d.vrf_id)
            present.add((IPv4(d.ip_address), bool(d.flags & TWICE_NAT), vrf))
        found: list[tuple[Key, Nat44AddressPool, None]] = []
        for item in sorted(correlate, key=lambda c: c.key):
            value = item.value
            if isinstance(value, Nat44AddressPool) and set(_entries(value)) <= present:
                present -= set(_entries(value))
                found.append((item.key, value, None))
        found += [(self.key_of(pool), pool, None) for pool in _runs(present)]
        return self.prefer_believed(correlate, found)

    async def _add_del(self, value: Nat44AddressPool, address: IPv4, *, is_add: bool) -> None:
        fields = {
            "first_ip_address": str(address),
            "last_ip_address": str(address),
            "vrf_id": NO_INDEX if value.vrf is None else value.vrf,
            "flags": TWICE_NAT if value.twice_nat else 0,
        }
        if is_add:
            await self.call("nat44_add_del_address_range", is_add=True, **fields)
        else:
            await self.call_gone_ok("nat44_add_del_address_range", is_add=False, **fields)


def _runs(entries: set[Entry]) -> Iterator[Nat44AddressPool]:
    """Consecutive addresses with the same flags and VRF, as pools."""
    order = sorted(entries, key=lambda e: (e[1], -1 if e[2] is None else e[2], e[0]))
    start = prev = None
    for entry in order:
        if prev is not None and (entry[1:], int(entry[0])) == (prev[1:], int(prev[0]) + 1):
            prev = entry
            continue
        if start is not None and prev is not None:
            yield _pool(start[0], prev[0], start[1], start[2])
        start = prev = entry
    if start is not None and prev is not None:
        yield _pool(start[0], prev[0], start[1], start[2])
