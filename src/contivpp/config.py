"""Typed agent configuration: the IPAM address plan and the node's knobs.

One place turns YAML / JSON (Contiv's camelCase keys, as found in an event-log header or in the
agent's config file) into frozen attrs objects with validated types, so nothing downstream ever
re-parses strings. Unknown keys are rejected by name: a typo in a config file must not silently
fall back to a default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import attrs

from contivpp.errors import ConfigError


def _net(text: str) -> IPv4Network:
    return IPv4Network(text)


def setting_name(where: str, name: object) -> str:
    """``where.name``, or just ``name`` at the top of a file (``where`` empty).

    A name that is not plainly printable (a YAML key with a newline, an empty key) is quoted,
    so an error about it stays one readable line.
    """
    text = str(name)
    if not text or not text.isprintable():
        text = repr(text)
    return f"{where}.{text}" if where else text


def describe(value: object) -> str:
    """A wrong value as an error shows it: its YAML/JSON type and the value itself."""
    return f"{type(value).__name__} {value!r}"


def int_setting(name: str, value: object, low: int, high: int | None = None) -> int:
    """An integer setting within ``[low, high]``; bools (YAML ``yes``) are not integers."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name}: must be an integer, got {describe(value)}")
    if high is None and value < low:
        raise ConfigError(f"{name}: must be at least {low}, got {value}")
    if high is not None and not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
    return value


@attrs.frozen
class IPAMConfig:
    """Contiv's address plan; defaults are Contiv's manifest defaults."""

    pod_subnet_cidr: IPv4Network = _net("10.1.0.0/16")
    pod_subnet_one_node_prefix_len: int = 24
    vpp_host_subnet_cidr: IPv4Network = _net("172.30.0.0/16")
    vpp_host_subnet_one_node_prefix_len: int = 24
    node_interconnect_cidr: IPv4Network = _net("192.168.16.0/24")
    vxlan_cidr: IPv4Network = _net("192.168.30.0/24")
    service_cidr: IPv4Network = _net("10.96.0.0/12")

    def __attrs_post_init__(self) -> None:
        pairs = (
            (
                "podSubnetOneNodePrefixLen",
                self.pod_subnet_one_node_prefix_len,
                self.pod_subnet_cidr,
            ),
            (
                "vppHostSubnetOneNodePrefixLen",
                self.vpp_host_subnet_one_node_prefix_len,
                self.vpp_host_subnet_cidr,
            ),
        )
        for name, plen, net in pairs:
            if not net.prefixlen < plen <= 30:
                raise ConfigError(
                    f"ipam.{name}: {plen} must be longer than /{net.prefixlen} and <= 30"
                )

    def to_json(self) -> dict[str, str | int]:
        return {
            json_name: (str(getattr(self, attr)) if attr.endswith("cidr") else getattr(self, attr))
            for json_name, attr in _IPAM_FIELDS.items()
        }

    @classmethod
    def from_json(cls, data: object, where: str = "ipam") -> IPAMConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for json_name, value in data.items():
            attr = _IPAM_FIELDS.get(json_name)
            name = setting_name(where, json_name)
            if attr is None:
                known = ", ".join(_IPAM_FIELDS)
                raise ConfigError(f"{name}: unknown setting (known: {known})")
            if attr.endswith("cidr"):
                if not isinstance(value, str):
                    raise ConfigError(f"{name}: expected a CIDR string")
                try:
                    kwargs[attr] = IPv4Network(value)
                except ValueError as exc:
                    raise ConfigError(f"{name}: {exc}") from exc
            else:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ConfigError(f"{name}: expected an integer")
                kwargs[attr] = value
        return cls(**kwargs)


_IPAM_FIELDS = {
    "podSubnetCIDR": "pod_subnet_cidr",
    "podSubnetOneNodePrefixLen": "pod_subnet_one_node_prefix_len",
    "vppHostSubnetCIDR": "vpp_host_subnet_cidr",
    "vppHostSubnetOneNodePrefixLen": "vpp_host_subnet_one_node_prefix_len",
    "nodeInterconnectCIDR": "node_interconnect_cidr",
    "vxlanCIDR": "vxlan_cidr",
    "serviceCIDR": "service_cidr",
}


@attrs.frozen
class EventLogConfig:
    """Where the agent records the events it processes, and how much it keeps."""

    directory: Path | None = None
    max_bytes: int = 64 * 1024 * 1024
    backups: int = 4


#: Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/' or whitespace.
LINUX_IFNAMSIZ = 15


def is_linux_ifname(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value.encode()) <= LINUX_IFNAMSIZ
        and not any(c == "/" or c.isspace() for c in value)
    )


@attrs.frozen
class UplinkRoute:
    """A route of the NIC's host configuration, moved onto VPP's uplink."""

    dst: str  # IPv4 CIDR
    via: str = ""  # IPv4 next hop; "" = the destination is on the link


@attrs.frozen
class MainInterface:
    """VPP's uplink: a Linux NIC VPP drives as a host-interface (af_packet), with the node's
    address and its default gateway (Contiv's main VPP interface). Set by the agent from what
    the STN daemon stole, or in the config file as ``mainInterface``."""

    interface: str  # the Linux name
    address: str  # IPv4 CIDR: the node's address on the NIC
    gateway: str = ""  # IPv4: the default route's next hop; "" = no default route
    routes: tuple[UplinkRoute, ...] = ()

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"interface": self.interface, "address": self.address}
        if self.gateway:
            out["gateway"] = self.gateway
        if self.routes:
            out["routes"] = [
                {"dst": r.dst, **({"via": r.via} if r.via else {})} for r in self.routes
            ]
        return out

    @classmethod
    def from_json(cls, data: object, where: str) -> MainInterface:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected an object, got {describe(data)}")
        for name in data:
            if name not in ("interface", "address", "gateway", "routes"):
                known = "interface, address, gateway, routes"
                raise ConfigError(f"{setting_name(where, name)}: unknown setting (known: {known})")
        for name in ("interface", "address"):
            if name not in data:
                raise ConfigError(f"{where}.{name}: required")
        interface = data["interface"]
        if not is_linux_ifname(interface):
            raise ConfigError(
                f"{where}.interface: must be a Linux interface name, got {describe(interface)}"
            )
        address = data["address"]
        try:
            cidr = ipaddress.IPv4Interface(address) if isinstance(address, str) else None
        except ValueError:
            cidr = None
        if cidr is None or "/" not in address or cidr.ip in (cidr.network[0], cidr.network[-1]):
            raise ConfigError(
                f"{where}.address: must be an IPv4 host address with its prefix length "
                f"(192.0.2.10/24), got {describe(address)}"
            )
        gateway = data.get("gateway", "")
        if gateway != "" and not (
            isinstance(gateway, str) and is_ipv4(gateway) and gateway != str(cidr.ip)
        ):
            raise ConfigError(
                f"{where}.gateway: must be an IPv4 address other than the node's, "
                f"got {describe(gateway)}"
            )
        if gateway and ipaddress.IPv4Address(gateway) not in cidr.network:
            raise ConfigError(f"{where}.gateway: {gateway} is not in {cidr.network}")
        routes = data.get("routes", [])
        if not isinstance(routes, list):
            raise ConfigError(f"{where}.routes: expected a list, got {describe(routes)}")
        parsed = []
        for i, item in enumerate(routes):
            at = f"{where}.routes[{i}]"
            if not isinstance(item, Mapping) or set(item) - {"dst", "via"} or "dst" not in item:
                raise ConfigError(f"{at}: expected {{dst: CIDR, via: IP}}, got {describe(item)}")
            dst, via = item["dst"], item.get("via", "")
            try:
                network = IPv4Network(dst) if isinstance(dst, str) else None
            except ValueError:
                network = None
            if network is None or network.prefixlen == 0:
                raise ConfigError(
                    f"{at}.dst: must be an IPv4 network other than 0.0.0.0/0 (the gateway is "
                    f"the default route), got {describe(dst)}"
                )
            if via != "" and not (isinstance(via, str) and is_ipv4(via)):
                raise ConfigError(f"{at}.via: must be an IPv4 address, got {describe(via)}")
            parsed.append(UplinkRoute(str(network), via))
        return cls(interface, str(cidr), gateway, tuple(parsed))


@attrs.frozen
class AgentConfig:
    """Everything that shapes rendering for one node, plus process-level settings."""

    node_name: str
    ipam: IPAMConfig = IPAMConfig()
    mtu: int = 1450
    main_vrf: int = 0
    pod_vrf: int = 1
    vxlan_vni: int = 10
    event_log: EventLogConfig = EventLogConfig()
    #: Source-NAT pods' traffic leaving the cluster to the node's address (Contiv's
    #: ``natExternalTraffic``, on by default there too).
    nat_external_traffic: bool = True
    #: VPP's uplink NIC (None: no NIC, the node's VPP address is on a loopback).
    main_interface: MainInterface | None = None
    #: Route the service CIDR from the host into VPP (Contiv's ``routeServiceCIDRToVPP``,
    #: off by default there too): host-network clients, the node itself included, then
    #: reach ClusterIPs through the host link, where VPP's NAT translates them.
    route_service_cidr_to_vpp: bool = False

    def overrides_json(self) -> dict[str, object]:
        """The header ``config`` object of an event log recorded by this agent."""
        out: dict[str, object] = {
            "ipam": self.ipam.to_json(),
            "mtu": self.mtu,
            "mainVRFID": self.main_vrf,
            "podVRFID": self.pod_vrf,
        }
        # Settings added later are written only when not their default, so the header of a
        # log recorded before they existed (or with their default) stays byte for byte.
        if self.vxlan_vni != 10:
            out["vxlanVNI"] = self.vxlan_vni
        if not self.nat_external_traffic:
            out["natExternalTraffic"] = False
        if self.main_interface is not None:
            # Only when set: headers of nodes without an uplink stay the same.
            out["mainInterface"] = self.main_interface.to_json()
        if self.route_service_cidr_to_vpp:
            out["routeServiceCIDRToVPP"] = True
        return out

    @classmethod
    def from_overrides(cls, node_name: str, data: object, where: str = "config") -> AgentConfig:
        """Build a config from Contiv-style overrides (as in an event-log header)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where or 'config'}: expected an object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            qualified = setting_name(where, name)
            if name == "ipam":
                kwargs["ipam"] = IPAMConfig.from_json(value, qualified)
            elif name == "mainInterface":
                kwargs["main_interface"] = MainInterface.from_json(value, qualified)
            elif name in _INT_KNOBS:
                attr, low, high = _INT_KNOBS[name]
                kwargs[attr] = int_setting(qualified, value, low, high)
            elif name in _BOOL_KNOBS:
                if not isinstance(value, bool):
                    raise ConfigError(f"{qualified}: expected a boolean, got {describe(value)}")
                kwargs[_BOOL_KNOBS[name]] = value
            else:
                raise ConfigError(f"{qualified}: unknown setting")
        main_vrf, pod_vrf = kwargs.get("main_vrf", 0), kwargs.get("pod_vrf", 1)
        if main_vrf == pod_vrf:
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}mainVRFID and podVRFID must differ (both {main_vrf})")
        return cls(node_name=node_name, **kwargs)


_U32_MAX = (1 << 32) - 1
#: JSON name -> (attribute, lowest, highest). MTU: IPv4's 576 up to VPP's largest frame; a
#: VXLAN VNI has 24 bits and 0 is not a usable segment.
_INT_KNOBS = {
    "mtu": ("mtu", 576, 9216),
    "mainVRFID": ("main_vrf", 0, _U32_MAX),
    "podVRFID": ("pod_vrf", 0, _U32_MAX),
    "vxlanVNI": ("vxlan_vni", 1, (1 << 24) - 1),
}
_BOOL_KNOBS = {
    "natExternalTraffic": "nat_external_traffic",
    "routeServiceCIDRToVPP": "route_service_cidr_to_vpp",
}


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
