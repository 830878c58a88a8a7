"""NAT44 load-balanced static mappings: a service address and port over several backends.

Backends come and go with pods, so backends are updated in place
(``nat44_lb_static_mapping_add_del_local``, one call per backend): new ones are added before old
ones are removed, because VPP refuses to leave a mapping with fewer than two (UNSPECIFIED).
A backend that is there already (VALUE_EXIST) or gone already (NO_SUCH_ENTRY) counts as done,
so the retry of an update that failed halfway finishes it. A changed weight, or any change of
the mapping itself, recreates it. Without ``out2in_only`` VPP wants the external address in the
NAT pool, hence the dependency on a (non twice-NAT) pool containing it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from contivpp.model import keys
from contivpp.model.nat import Nat44LbLocal, Nat44LbStaticMapping
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
    OUT2IN_ONLY,
    PLUGIN,
    check_port,
    mapping_flags,
    protocol_name,
    protocol_number,
    twice_nat_of,
)


def _backend(local: Nat44LbLocal) -> tuple[str, int, int]:
    """What VPP identifies a backend by (its weight is not part of it)."""
    return (local.ip, local.port, local.vrf)


def _settings(value: Nat44LbStaticMapping) -> Nat44LbStaticMapping:
    return attrs.evolve(value, locals=())


def _pool_contains(address: str) -> Callable[[Key], bool]:
    wanted = ipaddress.IPv4Address(address)

    def selector(key: Key) -> bool:
        pool = keys.nat44_address_pool_range(key)
        if pool is None or pool[2]:
            return False
        first, last = ipaddress.IPv4Address(pool[0]), ipaddress.IPv4Address(pool[1])
        return first <= wanted <= last

    return selector


class Nat44LbStaticMappingDescriptor(VppDescriptor[Nat44LbStaticMapping, None]):
    name = "vpp-nat44-lb-mapping"
    key_prefix = keys.NAT44_LB_PREFIX
    supports_update = True
    supports_retrieve = True

    def key_of(self, value: Nat44LbStaticMapping) -> Key:
        return keys.nat44_lb_static_mapping(value.external_ip, value.protocol, value.external_port)

    def check(self, key: Key, value: Nat44LbStaticMapping) -> None:
        check_ip(key, "external_ip", value.external_ip)
        check_port(key, "external_port", value.external_port)
        if len(value.locals) < 2:
            raise invalid(key, "locals", "needs two or more (one backend: a static mapping)")
        if len({_backend(x) for x in value.locals}) != len(value.locals):
            raise invalid(key, "locals", "lists a backend twice")
        for local in value.locals:
            check_ip(key, "locals.ip", local.ip)
            check_port(key, "locals.port", local.port)
            check_range(key, "locals.probability", local.probability, 1, 255)
            check_range(key, "locals.vrf", local.vrf, 0, NO_INDEX - 1)
        check_range(key, "affinity", value.affinity, 0, NO_INDEX)
        check_tag(key, "label", value.label)

    def equivalent(self, key: Key, old: Nat44LbStaticMapping, new: Nat44LbStaticMapping) -> bool:
        return _settings(old) == _settings(new) and set(old.locals) == set(new.locals)

    def dependencies(self, key: Key, value: Nat44LbStaticMapping) -> Sequence[Dependency]:
        if value.out2in_only:
            return [PLUGIN]
        pool = Dependency(
            label="address pool",
            any_of_selector=_pool_contains(value.external_ip),
            selector_scope=keys.NAT44_SNAT_POOL_PREFIX,
        )
        return [PLUGIN, pool]

    def update_with_recreate(
        self, key: Key, old: Nat44LbStaticMapping, new: Nat44LbStaticMapping, metadata: None
    ) -> bool:
        weights = {_backend(x): x.probability for x in old.locals}
        reweighted = any(
            weights.get(_backend(x), x.probability) != x.probability for x in new.locals
        )
        return reweighted or _settings(old) != _settings(new)

    async def create(self, key: Key, value: Nat44LbStaticMapping) -> None:
        await self._mapping(value, is_add=True)

    async def update(
        self, key: Key, old: Nat44LbStaticMapping, new: Nat44LbStaticMapping, metadata: None
    ) -> None:
        # After a failure halfway the scheduler retries from ``old`` again, so VPP may have
        # some of these additions and lack some of these removals already: both count as done.
        before = {_backend(x) for x in old.locals}
        after = {_backend(x) for x in new.locals}
        for local in new.locals:
            if _backend(local) not in before:
                await self._local(new, local, is_add=True)
        for local in old.locals:
            if _backend(local) not in after:
                await self._local(new, local, is_add=False)

    async def delete(self, key: Key, value: Nat44LbStaticMapping, metadata: None) -> None:
        await self._mapping(value, is_add=False)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        found = []
        for d in await self.client.dump("nat44_lb_static_mapping_dump"):
            protocol = protocol_name(int(d.protocol))
            if protocol is None:
                continue  # not a mapping this model can express
            flags = int(d.flags)
            value = Nat44LbStaticMapping(
                external_ip=str(d.external_addr),
                external_port=int(d.external_port),
                protocol=protocol,
                locals=tuple(
                    Nat44LbLocal(
                        str(x["addr"]), int(x["port"]), int(x["probability"]), int(x["vrf_id"])
                    )
                    for x in d.locals
                ),
                twice_nat=twice_nat_of(flags),
                out2in_only=bool(flags & OUT2IN_ONLY),
                affinity=int(d.affinity),
                label=d.tag,
            )
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    async def _mapping(self, value: Nat44LbStaticMapping, *, is_add: bool) -> None:
        fields = {
            "flags": mapping_flags(
                value.twice_nat, out2in_only=value.out2in_only, address_only=False
            ),
            "external_addr": value.external_ip,
            "external_port": value.external_port,
            "protocol": protocol_number(value.protocol),
            "affinity": value.affinity,
            "tag": value.label,
            "locals": [_local_fields(x) for x in value.locals],
        }
        if is_add:
            await self.call("nat44_add_del_lb_static_mapping", is_add=True, **fields)
        else:
            await self.call_gone_ok("nat44_add_del_lb_static_mapping", is_add=False, **fields)

    async def _local(
        self, value: Nat44LbStaticMapping, local: Nat44LbLocal, *, is_add: bool
    ) -> None:
        call = self.call_exists_ok if is_add else self.call_gone_ok
        await call(
            "nat44_lb_static_mapping_add_del_local",
            is_add=is_add,
            external_addr=value.external_ip,
            external_port=value.external_port,
            protocol=protocol_number(value.protocol),
            local=_local_fields(local),
        )


def _local_fields(local: Nat44LbLocal) -> dict[str, Any]:
    return {
        "addr": local.ip,
        "port": local.port,
        "probability": local.probability,
        "vrf_id": local.vrf,
    }
