"""Every key of the desired state is built here, and nowhere else.

Keys are paths; a descriptor owns a prefix. Keeping construction in one module means a key
format can change in one place and dependencies can never be spelled two different ways
(vpp-agent users hit "pending forever" values from exactly that mismatch).
"""

from __future__ import annotations

from contivpp.reconcile.api import Key

VRF_PREFIX = "vpp/vrf/"
INTERFACE_PREFIX = "vpp/interface/"
UNNUMBERED_PREFIX = "vpp/unnumbered/"
ADDRESS_PREFIX = "vpp/address/"
ROUTE_PREFIX = "vpp/route/"
NEIGHBOR_PREFIX = "vpp/arp/"
BD_PREFIX = "vpp/bd/"
BD_INTERFACE_PREFIX = "vpp/bd-interface/"
L2FIB_PREFIX = "vpp/l2fib/"
LINUX_ROUTE_PREFIX = "linux/route/"
LINUX_NEIGHBOR_PREFIX = "linux/arp/"
HOST_NETNS = "host"  # how the agent's own namespace appears in Linux keys


def vrf(table_id: int) -> Key:
    return Key(f"{VRF_PREFIX}{table_id}")


def interface(name: str) -> Key:
    return Key(f"{INTERFACE_PREFIX}{name}")


def interface_name(key: Key) -> str:
    return key.removeprefix(INTERFACE_PREFIX)


def unnumbered(name: str) -> Key:
    return Key(f"{UNNUMBERED_PREFIX}{name}")


def address(interface_name: str, cidr: str) -> Key:
    return Key(f"{ADDRESS_PREFIX}{interface_name}/{cidr}")


def route(vrf_id: int, dst: str, next_hop: str, out_interface: str) -> Key:
    return Key(
        f"{ROUTE_PREFIX}vrf/{vrf_id}/dst/{dst}/via/{next_hop or '-'}/dev/{out_interface or '-'}"
    )


def neighbor(interface_name: str, ip: str) -> Key:
    return Key(f"{NEIGHBOR_PREFIX}{interface_name}/{ip}")


def bridge_domain(name: str) -> Key:
    return Key(f"{BD_PREFIX}{name}")


def bridge_domain_interface(bd_name: str, interface_name: str) -> Key:
    return Key(f"{BD_INTERFACE_PREFIX}{bd_name}/{interface_name}")


def l2fib(bd_name: str, mac: str) -> Key:
    return Key(f"{L2FIB_PREFIX}{bd_name}/{mac}")


def _ns(netns: str) -> str:
    return netns.strip("/").replace("/", "_") if netns else HOST_NETNS


def linux_route(netns: str, dst: str) -> Key:
    return Key(f"{LINUX_ROUTE_PREFIX}{_ns(netns)}/{dst}")


def linux_neighbor(netns: str, interface_name: str, ip: str) -> Key:
    return Key(f"{LINUX_NEIGHBOR_PREFIX}{_ns(netns)}/{interface_name}/{ip}")
