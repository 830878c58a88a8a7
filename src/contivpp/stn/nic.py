"""What a NIC had in the host, and the netlink work to take it away and give it back.

A stolen NIC is only safe to steal if everything it carried can be put back exactly: its
addresses, the routes through it (the default route above all: without it the node is cut
off), its MTU, MAC and link state. :class:`NicConfig` is that record, serialisable so the
daemon can persist it before it touches the NIC; :func:`record`, :func:`take` and
:func:`restore` are the blocking netlink steps (run them on the netlink worker thread).
Connected routes (``proto kernel``) are not recorded: the kernel re-creates them with the
addresses. Only the main routing table is recorded.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from contivpp.errors import STNError

IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_KERNEL = 2
RT_SCOPE_LINK = 253
SYSFS_NET = Path("/sys/class/net")
SYSFS_PCI = Path("/sys/bus/pci")
PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


@attrs.frozen
class Route:
    """One route through the NIC; ``gateway`` is "" for a link-scope route."""

    destination: str  # CIDR, "0.0.0.0/0" for the default route
    gateway: str = ""
    metric: int = 0
    scope: int = 0
    protocol: int = 4  # RTPROT_STATIC
    family: int = socket.AF_INET

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


@attrs.frozen
class NicConfig:
    """Everything the host had on a NIC when it was stolen."""

    name: str
    mac: str
    mtu: int
    up: bool
    addresses: tuple[str, ...]  # CIDR, in the order the kernel listed them
    routes: tuple[Route, ...]
    pci_address: str = ""
    kernel_driver: str = ""
    dhcp: bool = False

    def to_json(self) -> dict[str, object]:
        data = attrs.asdict(self, recurse=False)
        data["addresses"] = list(self.addresses)
        data["routes"] = [r.to_json() for r in self.routes]
        return data

    @classmethod
    def from_json(cls, data: object, where: str) -> NicConfig:
        """Parse a persisted record; :class:`STNError` names the field that is wrong."""
        if not isinstance(data, Mapping):
            raise STNError(f"{where}: expected an object")
        fields: dict[str, tuple[type, ...]] = {
            "name": (str,),
            "mac": (str,),
            "mtu": (int,),
            "up": (bool,),
            "addresses": (list,),
            "routes": (list,),
            "pci_address": (str,),
            "kernel_driver": (str,),
            "dhcp": (bool,),
        }
        kwargs: dict[str, Any] = {}
        for name, types in fields.items():
            if name not in data:
                raise STNError(f"{where}: field {name!r} is missing")
            value = data[name]
            if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
                raise STNError(f"{where}: field {name!r}: wrong type {type(value).__name__}")
            kwargs[name] = value
        for i, addr in enumerate(kwargs["addresses"]):
            _check_cidr(addr, f"{where}: addresses[{i}]", strict=False)
        kwargs["addresses"] = tuple(kwargs["addresses"])
        kwargs["routes"] = tuple(
            _route_from_json(r, f"{where}: routes[{i}]") for i, r in enumerate(kwargs["routes"])
        )
        return cls(**kwargs)


def _check_cidr(text: object, where: str, *, strict: bool) -> None:
    if not isinstance(text, str):
        raise STNError(f"{where}: expected a CIDR string")
    try:
        if strict:
            ipaddress.ip_network(text)
        else:
            ipaddress.ip_interface(text)
    except ValueError as exc:
        raise STNError(f"{where}: {exc}") from exc


def _route_from_json(data: object, where: str) -> Route:
    if not isinstance(data, Mapping):
        raise STNError(f"{where}: expected an object")
    _check_cidr(data.get("destination"), f"{where}.destination", strict=True)
    gateway = data.get("gateway", "")
    if not isinstance(gateway, str):
        raise STNError(f"{where}.gateway: expected a string")
    ints = {}
    for name in ("metric", "scope", "protocol", "family"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise STNError(f"{where}.{name}: expected an integer")
        ints[name] = value
    return Route(destination=str(data["destination"]), gateway=gateway, **ints)


def _ifindex(ipr: IPRoute, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise STNError(f"interface {name!r}: no such interface")
    return int(found[0])


def _sysfs_name(path: Path) -> str:
    """The last component of a sysfs symlink ("" when there is none)."""
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return ""


def pci_device(name: str, sysfs_net: Path = SYSFS_NET) -> tuple[str, str]:
    """(PCI address, kernel driver) of the NIC's PCI function; ("", "") for a virtual NIC.

    This is what DPDK binds and what a give-back would rebind (Contiv used ethtool's
    bus-info). A virtio NIC's sysfs device is ``virtio<N>``, a child of the PCI function,
    so the walk goes up to the first PCI-address-shaped directory.
    """
    try:
        device = (sysfs_net / name / "device").resolve(strict=True)
    except OSError:
        return "", ""
    for node in (device, *device.parents):
        if PCI_ADDRESS.fullmatch(node.name):
            return node.name, _sysfs_name(node / "driver")
    return "", ""


def _write_sysfs(path: Path, text: str) -> None:
    path.write_text(text)


def rebind_driver(
    config: NicConfig,
    sysfs_pci: Path = SYSFS_PCI,
    *,
    write: Callable[[Path, str], None] = _write_sysfs,
) -> bool:
    """Hand the NIC's PCI function back to its kernel driver if another one holds it.

    VPP's DPDK binds the NIC to vfio-pci and does not give it back when it dies, so without
    this a dead vswitch would leave the node without its network. True if a rebind was
    asked for (the netdev then reappears after a moment); False when there is nothing to do
    (a virtual NIC, already on its driver, or no longer on the bus).
    """
    if not config.pci_address or not config.kernel_driver:
        return False
    device = sysfs_pci / "devices" / config.pci_address
    if not device.exists():
        return False
    holder = _sysfs_name(device / "driver")
    if holder == config.kernel_driver:
        return False
    try:
        if holder:
            write(device / "driver" / "unbind", config.pci_address)
        write(device / "driver_override", config.kernel_driver)
        write(sysfs_pci / "drivers_probe", config.pci_address)
        write(device / "driver_override", "\n")  # let any driver have it again later
    except OSError as exc:
        raise STNError(
            f"{config.name}: PCI {config.pci_address}: cannot rebind to "
            f"{config.kernel_driver}: {exc}"
        ) from exc
    return True


def record(ipr: IPRoute, name: str, *, dhcp: bool = False) -> NicConfig:
    """Read what the host has on ``name`` (raises :class:`STNError` if it does not exist)."""
    index = _ifindex(ipr, name)
    link = next(iter(ipr.get_links(index)))
    addresses = []
    for msg in ipr.get_addr(index=index):
        if msg["scope"] == RT_SCOPE_LINK:
            continue  # IPv6 link-local: the kernel makes it again
        local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        addresses.append(f"{local}/{msg['prefixlen']}")
    routes = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_routes(family=family, table=RT_TABLE_MAIN):
            if msg.get_attr("RTA_OIF") != index or msg["proto"] == RTPROT_KERNEL:
                continue
            dst = msg.get_attr("RTA_DST") or ("0.0.0.0" if family == socket.AF_INET else "::")
            routes.append(
                Route(
                    destination=f"{dst}/{msg['dst_len']}",
                    gateway=msg.get_attr("RTA_GATEWAY") or "",
                    metric=msg.get_attr("RTA_PRIORITY") or 0,
                    scope=msg["scope"],
                    protocol=msg["proto"],
                    family=family,
                )
            )
    pci_address, kernel_driver = pci_device(name)
    return NicConfig(
        name=name,
        mac=link.get_attr("IFLA_ADDRESS") or "",
        mtu=int(link.get_attr("IFLA_MTU")),
        up=bool(link["flags"] & IFF_UP),
        addresses=tuple(addresses),
        routes=tuple(routes),
        pci_address=pci_address,
        kernel_driver=kernel_driver,
        dhcp=dhcp,
    )


def _route_spec(index: int, route: Route) -> dict[str, object]:
    spec: dict[str, object] = {
        "dst": route.destination,
        "oif": index,
        "table": RT_TABLE_MAIN,
        "family": route.family,
        "scope": route.scope,
        "proto": route.protocol,
    }
    if route.gateway:
        spec["gateway"] = route.gateway
    if route.metric:
        spec["priority"] = route.metric
    return spec


def _tolerate(ipr_call: Any, codes: tuple[int, ...], *args: Any, **kwargs: Any) -> None:
    try:
        ipr_call(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code not in codes:
            raise


def take(ipr: IPRoute, config: NicConfig) -> None:
    """Take the NIC from the host: routes, then addresses, then the link goes down.

    Idempotent (what is already gone is fine), so a daemon that died half-way can run it
    again.
    """
    index = _ifindex(ipr, config.name)
    gone = (errno.ESRCH, errno.EADDRNOTAVAIL, errno.ENOENT)
    for route in config.routes:
        _tolerate(ipr.route, gone, "del", **_route_spec(index, route))
    for cidr in config.addresses:
        iface = ipaddress.ip_interface(cidr)
        _tolerate(
            ipr.addr,
            gone,
            "del",
            index=index,
            address=str(iface.ip),
            prefixlen=iface.network.prefixlen,
        )
    ipr.link("set", index=index, state="down")


def restore(ipr: IPRoute, config: NicConfig) -> None:
    """Give the NIC back as recorded. Idempotent: what is already there is fine."""
    index = _ifindex(ipr, config.name)
    link: dict[str, object] = {"index": index, "mtu": config.mtu}
    if config.mac:
        link["address"] = config.mac
    ipr.link("set", **link)
    ipr.link("set", index=index, state="up" if config.up else "down")
    for cidr in config.addresses:
        iface = ipaddress.ip_interface(cidr)
        _tolerate(
            ipr.addr,
            (errno.EEXIST,),
            "add",
            index=index,
            address=str(iface.ip),
            prefixlen=iface.network.prefixlen,
        )
    # link-scope routes first: a gateway must be reachable before a route can use it
    for route in sorted(config.routes, key=lambda r: -r.scope):
        _tolerate(ipr.route, (errno.EEXIST,), "add", **_route_spec(index, route))


def missing(ipr: IPRoute, config: NicConfig) -> list[str]:
    """What of ``config`` the host does not have now (empty: fully restored)."""
    try:
        current = record(ipr, config.name)
    except STNError as exc:
        return [str(exc)]
    out = [f"address {a}" for a in config.addresses if a not in current.addresses]
    have = {(r.destination, r.gateway) for r in current.routes}
    out += [
        f"route {r.destination} via {r.gateway or 'link'}"
        for r in config.routes
        if (r.destination, r.gateway) not in have
    ]
    if current.mtu != config.mtu:
        out.append(f"mtu {current.mtu} != {config.mtu}")
    if current.up != config.up:
        out.append("link " + ("down" if config.up else "up"))
    return out
