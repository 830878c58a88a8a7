"""Typed access to decoded request fields, and VPP's address encodings, for the handlers.

vpp_papi decodes a message into untyped namedtuples; with type conversion off (as the simulator
decodes) addresses stay raw bytes, so a prefix such as ``10.1.1.5/24`` keeps its host bits and the
handlers can reject it exactly as VPP does. :class:`Msg` is the typed boundary over those tuples;
the helpers convert VPP's ``address`` / ``prefix`` layouts to :mod:`ipaddress` values and back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

#: VPP's "no index" / "all" value for u32 fields.
NO_INDEX = 0xFFFFFFFF

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

#: Reply / details fields as handed to the encoder.
Fields = dict[str, Any]

AF_IP4 = 0
AF_IP6 = 1


class BadAddress(ValueError):
    """An address or prefix field that VPP would reject (bad family or length)."""


class Msg:
    """A decoded request (or nested struct) with typed field getters."""

    __slots__ = ("_t",)

    def __init__(self, decoded: Any) -> None:
        self._t = decoded

    @property
    def name(self) -> str:
        return type(self._t).__name__

    def has(self, field: str) -> bool:
        return field in self._t._fields

    def u(self, field: str) -> int:
        """An integer field (u8..u64, enum, enumflag)."""
        return int(getattr(self._t, field))

    def b(self, field: str) -> bool:
        return bool(getattr(self._t, field))

    def s(self, field: str) -> str:
        return str(getattr(self._t, field))

    def raw(self, field: str) -> bytes:
        """A fixed byte array (MAC, IPv4 / IPv6 address)."""
        return bytes(getattr(self._t, field))

    def sub(self, field: str) -> Msg:
        return Msg(getattr(self._t, field))

    def subs(self, field: str) -> list[Msg]:
        return [Msg(x) for x in getattr(self._t, field)]

    def ints(self, field: str) -> list[int]:
        return [int(x) for x in getattr(self._t, field)]


def address(m: Msg) -> IPAddress:
    """Decode a ``vl_api_address_t`` (af + 16-byte union)."""
    af = m.u("af")
    un = m.sub("un")
    if af == AF_IP4:
        return ipaddress.IPv4Address(un.raw("ip4"))
    if af == AF_IP6:
        return ipaddress.IPv6Address(un.raw("ip6"))
    raise BadAddress(f"address family {af}")


def prefix(m: Msg) -> tuple[IPAddress, int]:
    """Decode a ``vl_api_prefix_t``: the address exactly as sent (host bits kept) and length."""
    addr = address(m.sub("address"))
    length = m.u("len")
    if length > addr.max_prefixlen:
        raise BadAddress(f"prefix length {length} for {addr}")
    return addr, length


def network(addr: IPAddress, length: int) -> IPNetwork:
    """The network of ``addr/length`` with host bits cleared."""
    return ipaddress.ip_network((addr, length), strict=False)


def has_host_bits(addr: IPAddress, length: int) -> bool:
    return network(addr, length).network_address != addr


def encode_address(addr: IPAddress) -> Fields:
    if addr.version == 4:
        return {"af": AF_IP4, "un": {"ip4": addr.packed}}
    return {"af": AF_IP6, "un": {"ip6": addr.packed}}


def encode_prefix(addr: IPAddress, length: int) -> Fields:
    return {"address": encode_address(addr), "len": length}


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def plain(value: Any) -> Any:
    """Turn decoded / state values into JSON-able ones (for ``dump_state`` and logs)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(
        value,
        ipaddress.IPv4Address
        | ipaddress.IPv6Address
        | ipaddress.IPv4Network
        | ipaddress.IPv6Network
        | ipaddress.IPv4Interface
        | ipaddress.IPv6Interface,
    ):
        return str(value)
    return value
