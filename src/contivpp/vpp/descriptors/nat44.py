"""What the NAT44 descriptors share: VPP's flag bits, protocol numbers and common checks.

The NAT values use names ("tcp", twice-NAT "self") where VPP uses numbers and flag bits; the
translation in both directions lives here once, so every mapping kind encodes and decodes the
same way (``nat_types.api``: ``nat_config_flags``).
"""

from __future__ import annotations

from contivpp.model import keys
from contivpp.model.nat import NatProtocol, TwiceNat
from contivpp.reconcile.api import Dependency, Key
from contivpp.vpp.descriptors.base import check_range

TWICE_NAT = 0x01
SELF_TWICE_NAT = 0x02
OUT2IN_ONLY = 0x04
ADDR_ONLY = 0x08
IS_OUTSIDE = 0x10
IS_INSIDE = 0x20

PROTOCOLS: dict[NatProtocol, int] = {"icmp": 1, "tcp": 6, "udp": 17}
_NAMES: dict[int, NatProtocol] = {number: name for name, number in PROTOCOLS.items()}
_TWICE: dict[TwiceNat, int] = {"disabled": 0, "enabled": TWICE_NAT, "self": SELF_TWICE_NAT}

#: Every NAT value but the plugin itself needs the plugin enabled (VPP answers UNSUPPORTED).
PLUGIN = Dependency(label="nat44 plugin", key=keys.nat44_global())


def protocol_number(protocol: NatProtocol | None) -> int:
    return 0 if protocol is None else PROTOCOLS[protocol]


def protocol_name(number: int) -> NatProtocol | None:
    """The name of a protocol number (None for 0 and for protocols the model cannot name)."""
    return _NAMES.get(number)


def mapping_flags(twice_nat: TwiceNat, *, out2in_only: bool, address_only: bool) -> int:
    flags = _TWICE[twice_nat]
    if out2in_only:
        flags |= OUT2IN_ONLY
    if address_only:
        flags |= ADDR_ONLY
    return flags


def twice_nat_of(flags: int) -> TwiceNat:
    if flags & TWICE_NAT:
        return "enabled"
    return "self" if flags & SELF_TWICE_NAT else "disabled"


def check_port(key: Key, field: str, port: int) -> None:
    check_range(key, field, port, 0, 65535)
