"""Desired-state values for VPP objects (frozen, hashable, JSON-able).

These are what renderers emit and VPP descriptors apply. They hold names, not VPP indexes:
sw_if_index values are VPP's runtime metadata and are resolved by descriptors at apply time,
which is what lets the same desired set be re-applied to a freshly restarted VPP.
"""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen
class VrfTable:
    table_id: int
    name: str = ""


@attrs.frozen
class TapLink:
    """The Linux end of a VPP TAP: its name, netns and addressing on the host side."""

    host_if_name: str
    host_namespace: str = ""  # netns path or name; "" = the agent's own namespace
    host_mac: str = ""
    host_ip4_prefix: str = ""  # CIDR
    host_ip4_gw: str = ""


@attrs.frozen
class VxlanLink:
    """The tunnel end points of a VXLAN interface."""

    src: str
    dst: str
    vni: int
    encap_vrf: int = 0


@attrs.frozen
class AfPacketLink:
    """The Linux interface behind a VPP host-interface (af_packet): the node's uplink NIC."""

    host_if_name: str


@attrs.frozen
class Interface:
    name: str  # the logical name, stored in VPP as the interface tag
    kind: Literal["loopback", "tap", "vxlan", "af_packet"]
    vrf: int = 0
    enabled: bool = True
    mac: str = ""
    mtu: int = 0  # 0 = VPP's default
    ip_addresses: tuple[str, ...] = ()  # CIDRs, derived as separate address values
    unnumbered_to: str = ""  # borrow the addresses of this interface (logical name)
    tap: TapLink | None = None
    vxlan: VxlanLink | None = None
    af_packet: AfPacketLink | None = None


@attrs.frozen
class InterfaceAddress:
    """Derived from an Interface: one address on it."""

    interface: str
    cidr: str


@attrs.frozen
class Unnumbered:
    """Derived from an Interface: it borrows the addresses of another interface."""

    interface: str
    address_from: str


@attrs.frozen
class Route:
    vrf: int
    dst: str  # CIDR
    next_hop: str = ""
    out_interface: str = ""  # logical name
    next_hop_vrf: int | None = None  # inter-VRF route: resolve the next hop in this table
    drop: bool = False
    #: Answer with ICMP destination unreachable (VPP's ICMP_UNREACH path) instead of a silent
    #: drop: a service with no endpoint rejects, as kube-proxy does.
    unreachable: bool = False


@attrs.frozen
class Neighbor:
    """A static ARP entry."""

    interface: str
    ip: str
    mac: str


@attrs.frozen
class BridgeDomainMember:
    interface: str
    bvi: bool = False
    split_horizon_group: int = 0


@attrs.frozen
class BridgeDomain:
    """An L2 bridge domain; each member is derived as its own value (it depends on the
    interface existing)."""

    name: str
    bd_id: int
    flood: bool = False
    uu_flood: bool = False
    learn: bool = False
    forward: bool = True
    arp_termination: bool = False
    members: tuple[BridgeDomainMember, ...] = ()


@attrs.frozen
class BridgeDomainInterface:
    """Derived from a BridgeDomain: one member interface."""

    bridge_domain: str
    bd_id: int
    member: BridgeDomainMember


@attrs.frozen
class L2FibEntry:
    """A static L2 FIB entry: frames to ``mac`` in the bridge domain go out ``interface``."""

    bridge_domain: str
    bd_id: int
    mac: str
    interface: str
    static: bool = True
    bvi: bool = False
