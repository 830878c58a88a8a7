"""VPP interfaces (loopback, TAP, VXLAN tunnel, host-interface): lifecycle, VRF, MAC, MTU,
admin state.

An interface is known by its logical name, which is stored as its VPP tag: that is how a
resync tells our interfaces from VPP's own (``local0``) and finds their keys again after the
agent or VPP restarted, when every sw_if_index is new. The sw_if_index is this descriptor's
metadata and is published in the client's :class:`~contivpp.vpp.ifindex.InterfaceIndex`, where
every other descriptor resolves names.

IP addresses and the unnumbered setting are derived values (their own descriptors), so adding
an address never touches the interface, and they are created only after the interface is in its
VRF: VPP refuses to move an interface that has addresses, which is also why a VRF change
recreates the interface (with everything that depends on it) rather than updating it.
Two interfaces with one name (what failed transactions can leave) are cut down to the one with
the lowest sw_if_index when VPP is read back.
Kind-specific calls live in :mod:`.loopback`, :mod:`.tap`, :mod:`.vxlan` and
:mod:`.af_packet`. A host-interface with ``mtu`` 0 keeps the MTU VPP read from its Linux
interface (VPP's default 9000 would be wrong for a NIC).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Literal

import attrs
import structlog

from contivpp.errors import VPPApiError
from contivpp.model import keys
from contivpp.model.vpp import Interface, InterfaceAddress, Unnumbered
from contivpp.reconcile.api import Correlated, Dependency, Key, KeyValue, Retrieved
from contivpp.vpp.client import Message, VPPClient
from contivpp.vpp.descriptors import af_packet, loopback, tap, vxlan
from contivpp.vpp.descriptors.base import (
    GONE,
    NO_INDEX,
    VppDescriptor,
    check_cidr,
    check_ip,
    check_mac,
    check_name,
    check_range,
    invalid,
)

_log = structlog.get_logger(__name__)

#: VPP's MTU for a new interface; ``Interface.mtu == 0`` means this.
DEFAULT_MTU = 9000
ADMIN_UP = 1
LINUX_IFNAMSIZ = 15

Kind = Literal["loopback", "tap", "vxlan", "af_packet"]
_Create = Callable[[VPPClient, Interface], Awaitable[int]]
_Delete = Callable[[VPPClient, Interface, int], Awaitable[None]]
_KINDS: dict[str, tuple[_Create, _Delete]] = {
    "loopback": (loopback.create, loopback.delete),
    "tap": (tap.create, tap.delete),
    "vxlan": (vxlan.create, vxlan.delete),
    "af_packet": (af_packet.create, af_packet.delete),
}


def _mtu(mtu: int) -> int:
    return mtu or DEFAULT_MTU


def _keeps_mtu(v: Interface) -> bool:
    """A host-interface without an MTU of its own keeps its Linux interface's."""
    return v.kind == "af_packet" and not v.mtu


def _normal(v: Interface, wanted: Interface) -> Interface:
    """``v`` as far as ``wanted`` cares: "" MACs mean "any", 0 MTU the default, address order
    is irrelevant."""
    link = v.tap
    if link is not None and wanted.tap is not None and not wanted.tap.host_mac:
        link = attrs.evolve(link, host_mac="")
    return attrs.evolve(
        v,
        mac=v.mac if wanted.mac else "",
        mtu=0 if _keeps_mtu(wanted) else _mtu(v.mtu),
        ip_addresses=tuple(sorted(v.ip_addresses)),
        tap=link,
    )


class InterfaceDescriptor(VppDescriptor[Interface, int]):
    name = "vpp-interface"
    key_prefix = keys.INTERFACE_PREFIX
    supports_update = True
    supports_retrieve = True

    def key_of(self, value: Interface) -> Key:
        return keys.interface(value.name)

    def check(self, key: Key, value: Interface) -> None:
        check_name(key, "name", value.name)
        if value.kind not in _KINDS:
            raise invalid(key, "kind", f"{value.kind!r} is not one of {sorted(_KINDS)}")
        if (value.tap is not None) != (value.kind == "tap"):
            raise invalid(key, "tap", "is required for kind tap and only for it")
        if (value.vxlan is not None) != (value.kind == "vxlan"):
            raise invalid(key, "vxlan", "is required for kind vxlan and only for it")
        if (value.af_packet is not None) != (value.kind == "af_packet"):
            raise invalid(key, "af_packet", "is required for kind af_packet and only for it")
        if value.af_packet is not None:
            name = value.af_packet.host_if_name
            if not 0 < len(name) <= LINUX_IFNAMSIZ or any(c == "/" or c.isspace() for c in name):
                raise invalid(
                    key, "af_packet.host_if_name", f"needs a Linux name of 1..{LINUX_IFNAMSIZ}"
                )
        check_range(key, "vrf", value.vrf, 0, NO_INDEX - 1)
        if value.mac:
            check_mac(key, "mac", value.mac)
        if value.mtu:
            check_range(key, "mtu", value.mtu, 64, 9216)
        for cidr in value.ip_addresses:
            check_cidr(key, "ip_addresses", cidr, host_bits=True)
        if len(set(value.ip_addresses)) != len(value.ip_addresses):
            raise invalid(key, "ip_addresses", "lists an address twice")
        if value.unnumbered_to and (value.ip_addresses or value.unnumbered_to == value.name):
            raise invalid(key, "unnumbered_to", "excludes own addresses and naming itself")
        if value.tap is not None:
            link = value.tap
            if not 0 < len(link.host_if_name) <= LINUX_IFNAMSIZ:
                raise invalid(key, "tap.host_if_name", f"needs 1..{LINUX_IFNAMSIZ} characters")
            if link.host_mac:
                check_mac(key, "tap.host_mac", link.host_mac)
            if link.host_ip4_prefix:
                check_cidr(key, "tap.host_ip4_prefix", link.host_ip4_prefix, host_bits=True)
            if link.host_ip4_gw:
                check_ip(key, "tap.host_ip4_gw", link.host_ip4_gw)
        if value.vxlan is not None:
            tunnel = value.vxlan
            check_ip(key, "vxlan.src", tunnel.src)
            check_ip(key, "vxlan.dst", tunnel.dst)
            if tunnel.src == tunnel.dst or (":" in tunnel.src) != (":" in tunnel.dst):
                raise invalid(key, "vxlan.dst", "must differ from src, in the same family")
            check_range(key, "vxlan.vni", tunnel.vni, 0, (1 << 24) - 1)

    def equivalent(self, key: Key, old: Interface, new: Interface) -> bool:
        return _normal(old, new) == _normal(new, new)

    def dependencies(self, key: Key, value: Interface) -> Sequence[Dependency]:
        vrfs = {value.vrf, value.vxlan.encap_vrf if value.vxlan else 0} - {0}
        return [Dependency(label=f"vrf {v}", key=keys.vrf(v)) for v in sorted(vrfs)]

    def derived_values(self, key: Key, value: Interface) -> Sequence[KeyValue]:
        derived = [
            KeyValue(keys.address(value.name, cidr), InterfaceAddress(value.name, cidr))
            for cidr in value.ip_addresses
        ]
        if value.unnumbered_to:
            unnumbered = Unnumbered(value.name, value.unnumbered_to)
            derived.append(KeyValue(keys.unnumbered(value.name), unnumbered))
        return derived

    def update_with_recreate(
        self, key: Key, old: Interface, new: Interface, metadata: int | None
    ) -> bool:
        a, b = _normal(old, new), _normal(new, new)
        if (a.kind, a.vrf, a.tap, a.vxlan, a.af_packet) != (
            b.kind,
            b.vrf,
            b.tap,
            b.vxlan,
            b.af_packet,
        ):
            return True
        # A TAP's Linux end gets its MTU at creation only.
        return new.kind == "tap" and a.mtu != b.mtu

    async def create(self, key: Key, value: Interface) -> int:
        make, remove = _KINDS[value.kind]
        index = await make(self.client, value)
        try:
            if value.kind != "tap":  # taps are tagged by tap_create itself
                await self.call(
                    "sw_interface_tag_add_del", is_add=True, sw_if_index=index, tag=value.name
                )
            if value.vrf:
                await self.call("sw_interface_set_table", sw_if_index=index, vrf_id=value.vrf)
            if value.mac and value.kind == "vxlan":  # the others get theirs at creation
                await self._set_mac(index, value.mac)
            if value.mtu:
                await self.call("hw_interface_set_mtu", sw_if_index=index, mtu=value.mtu)
            if value.enabled:
                await self.call("sw_interface_set_flags", sw_if_index=index, flags=ADMIN_UP)
        except BaseException:
            # Half-configured interfaces must not stay behind: a retry creates a new one.
            await asyncio.shield(self._remove_quietly(remove, value, index))
            raise
        self.interfaces.put(value.name, index)
        return index

    async def update(self, key: Key, old: Interface, new: Interface, metadata: int | None) -> int:
        index = metadata if metadata is not None else self.interfaces.require(new.name)
        if new.mac and new.mac != old.mac:
            await self._set_mac(index, new.mac)
        if not _keeps_mtu(new) and _mtu(new.mtu) != _mtu(old.mtu):
            await self.call("hw_interface_set_mtu", sw_if_index=index, mtu=_mtu(new.mtu))
        if new.enabled != old.enabled:
            flags = ADMIN_UP if new.enabled else 0
            await self.call("sw_interface_set_flags", sw_if_index=index, flags=flags)
        self.interfaces.put(new.name, index)
        return index

    async def delete(self, key: Key, value: Interface, metadata: int | None) -> None:
        index = metadata if metadata is not None else self.interfaces.lookup(value.name)
        if index is not None:
            try:
                await _KINDS[value.kind][1](self.client, value, index)
            except VPPApiError as exc:
                if exc.retval not in GONE:
                    raise
        self.interfaces.remove(value.name)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        client = self.client
        details = await client.dump("sw_interface_dump", sw_if_index=NO_INDEX)
        self.interfaces.rebuild(details)
        taps, tunnels, packets, borrowed = await asyncio.gather(
            tap.read(client),
            vxlan.read(client),
            af_packet.read(client),
            client.dump("ip_unnumbered_dump", sw_if_index=NO_INDEX),
        )
        donors = {int(d.sw_if_index): int(d.ip_sw_if_index) for d in borrowed}
        believed = {item.key: item.value for item in correlate}
        ours = [(d, kind) for d in details if d.tag and (kind := _kind(d, taps, tunnels, packets))]
        layer3 = await asyncio.gather(*(self._layer3(int(d.sw_if_index)) for d, _ in ours))
        found: list[tuple[Key, Interface, int]] = []
        for (d, kind), (vrf, addresses) in zip(ours, layer3, strict=True):
            index = int(d.sw_if_index)
            donor = donors.get(index)
            link = taps.get(index)
            want = believed.get(keys.interface(d.tag))
            if link is not None and isinstance(want, Interface) and want.tap is not None:
                link = attrs.evolve(link, host_ip4_gw=want.tap.host_ip4_gw)  # unreadable
            value = Interface(
                name=d.tag,
                kind=kind,
                vrf=vrf,
                enabled=bool(d.flags & ADMIN_UP),
                mac=str(d.l2_address),
                mtu=int(d.link_mtu),
                # An unnumbered interface reports its donor's addresses, not its own.
                ip_addresses=() if donor is not None else addresses,
                unnumbered_to=(self.interfaces.name_of(donor) or "") if donor is not None else "",
                tap=link,
                vxlan=tunnels.get(index),
                af_packet=packets.get(index),
            )
            found.append((keys.interface(d.tag), value, index))
        removed = await self._remove_duplicates(found)
        if removed:
            found = [item for item in found if item[2] not in removed]
            self.interfaces.rebuild(d for d in details if int(d.sw_if_index) not in removed)
        return self.prefer_believed(correlate, found)

    async def _remove_duplicates(self, found: Sequence[tuple[Key, Interface, int]]) -> set[int]:
        """Delete all but the lowest-indexed interface of each name; their indexes.

        Failed transactions can leave two interfaces with one tag (issue 14); the key can name
        only one, and the other keeps its bridge-domain slot or addresses (BD_ALREADY_HAS_BVI,
        ADDRESS_IN_USE for good). Keeping the lowest index makes the choice deterministic; the
        resync then repairs whatever the kept one lacks.
        """
        kept: dict[Key, int] = {}
        removed: set[int] = set()
        for key, value, index in sorted(found, key=lambda item: item[2]):
            if key not in kept:
                kept[key] = index
                continue
            try:
                await _KINDS[value.kind][1](self.client, value, index)
            except VPPApiError as exc:
                if exc.retval not in GONE:
                    _log.error(
                        "vpp_duplicate_interface_not_removed",
                        name=value.name,
                        sw_if_index=index,
                        error=str(exc),
                    )
                    continue
            _log.warning(
                "vpp_duplicate_interface_removed",
                name=value.name,
                sw_if_index=index,
                kept_sw_if_index=kept[key],
            )
            removed.add(index)
        return removed

    async def _layer3(self, index: int) -> tuple[int, tuple[str, ...]]:
        table, ip4, ip6 = await asyncio.gather(
            self.call("sw_interface_get_table", sw_if_index=index, is_ipv6=False),
            self.client.dump("ip_address_dump", sw_if_index=index, is_ipv6=False),
            self.client.dump("ip_address_dump", sw_if_index=index, is_ipv6=True),
        )
        return int(table.vrf_id), tuple(str(a.prefix) for a in (*ip4, *ip6))

    async def _set_mac(self, index: int, mac: str) -> None:
        await self.call("sw_interface_set_mac_address", sw_if_index=index, mac_address=mac)

    async def _remove_quietly(self, remove: _Delete, value: Interface, index: int) -> None:
        try:
            await remove(self.client, value, index)
        except Exception:  # the original failure is what the caller needs to see
            return


def _kind(
    d: Message, taps: Collection[int], tunnels: Collection[int], packets: Collection[int]
) -> Kind | None:
    index = int(d.sw_if_index)
    if index in taps:
        return "tap"
    if index in tunnels:
        return "vxlan"
    if index in packets:
        return "af_packet"
    if d.interface_dev_type == loopback.DEV_TYPE:
        return "loopback"
    return None  # a kind we never create: not ours, whatever its tag says
