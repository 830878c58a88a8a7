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
LINUX_POD_PREFIX = "linux/pod/"


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


def linux_pod_route(namespace: str, name: str, dst: str) -> Key:
    return Key(f"{LINUX_POD_PREFIX}{namespace}/{name}/route/{dst}")


def linux_pod_neighbor(namespace: str, name: str, ip: str) -> Key:
    return Key(f"{LINUX_POD_PREFIX}{namespace}/{name}/arp/{ip}")
