"""Desired-state values for VPP's NAT44 (endpoint-dependent) plugin.

Contiv renders Kubernetes services as NAT44: the plugin enabled with forwarding on, pod and
node interfaces marked inside / outside, an address pool for SNAT and twice-NAT, one static
mapping per service address and port (a load-balanced one when there are several backends) and
identity mappings for traffic that must never be translated. Each of these is its own value
with its own key, so a new backend touches one mapping and not the whole NAT configuration (a
pain point of vpp-agent's single ``Nat44Global``). Values hold interface names and VRF ids,
never VPP indexes, and use protocol names instead of IP protocol numbers.
"""

from __future__ import annotations

from typing import Literal

import attrs

#: L4 protocols NAT44 translates.
NatProtocol = Literal["tcp", "udp", "icmp"]
#: How a mapping rewrites the client's source: not at all, always (to a twice-NAT pool
#: address), or only when the client is the chosen backend itself ("self", hairpinning).
TwiceNat = Literal["disabled", "enabled", "self"]


@attrs.frozen
class Nat44Global:
    """The plugin itself: enabled while this value exists."""

    forwarding: bool = False  # pass packets no mapping matches instead of dropping them
    inside_vrf: int = 0
    outside_vrf: int = 0
    sessions: int = 0  # maximum sessions per thread; 0 = VPP's default


@attrs.frozen
class Nat44Interface:
    """The NAT roles of one interface (logical name)."""

    interface: str
    inside: bool = False
    outside: bool = False
    #: Post-routing (output feature) NAT: dynamic SNAT of whatever leaves through it.
    #: Excludes ``inside`` and ``outside`` (VPP refuses the combination).
    output: bool = False


@attrs.frozen
class Nat44AddressPool:
    """A range of addresses NAT may translate to."""

    first_ip: str
    last_ip: str = ""  # "" = the range is the single address ``first_ip``
    vrf: int | None = None  # None = not tied to a VRF (VPP's ~0)
    twice_nat: bool = False  # the pool twice-NAT rewrites sources to


@attrs.frozen
class Nat44StaticMapping:
    """One external address (and port) translated to one local (backend) address."""

    local_ip: str
    external_ip: str = ""  # "" when the address is taken from ``external_interface``
    external_interface: str = ""  # logical name; its address becomes the external address
    protocol: NatProtocol | None = None  # None = address-only (all protocols, no ports)
    local_port: int = 0
    external_port: int = 0
    vrf: int = 0  # VRF of the local side
    twice_nat: TwiceNat = "disabled"
    #: Translate only connections opened from outside (what Contiv and vpp-agent always use
    #: for services: replies are translated back by the session, nothing else is).
    out2in_only: bool = True
    label: str = ""  # stored as VPP's tag, e.g. the service's namespace/name


@attrs.frozen
class Nat44LbLocal:
    """One backend of a load-balanced mapping."""

    ip: str
    port: int
    probability: int = 1  # relative weight, 1..255
    vrf: int = 0


@attrs.frozen
class Nat44LbStaticMapping:
    """One external address and port balanced over several backends (at least two)."""

    external_ip: str
    external_port: int
    protocol: NatProtocol
    locals: tuple[Nat44LbLocal, ...]
    twice_nat: TwiceNat = "disabled"
    out2in_only: bool = True
    affinity: int = 0  # session affinity (sticky) timeout in seconds; 0 = off
    label: str = ""


@attrs.frozen
class Nat44IdentityMapping:
    """Traffic to this address (and port) of ``vrf`` is never translated."""

    ip: str = ""  # one of ip / interface
    interface: str = ""  # logical name: the interface's address
    protocol: NatProtocol | None = None  # None = address-only
    port: int = 0
    vrf: int = 0
    label: str = ""
