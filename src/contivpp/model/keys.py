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
NAT44_GLOBAL = "vpp/nat44/global"
NAT44_INTERFACE_PREFIX = "vpp/nat44/interface/"
NAT44_POOL_PREFIX = "vpp/nat44/address-pool/"
NAT44_SNAT_POOL_PREFIX = f"{NAT44_POOL_PREFIX}snat/"
NAT44_TWICE_NAT_POOL_PREFIX = f"{NAT44_POOL_PREFIX}twice-nat/"
NAT44_STATIC_PREFIX = "vpp/nat44/static-mapping/"
NAT44_LB_PREFIX = "vpp/nat44/lb-mapping/"
NAT44_IDENTITY_PREFIX = "vpp/nat44/identity-mapping/"
ACL_PREFIX = "vpp/acl/"
ACL_INTERFACE_PREFIX = "vpp/acl-interface/"
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


def nat44_global() -> Key:
    return Key(NAT44_GLOBAL)


def nat44_interface(interface_name: str) -> Key:
    return Key(f"{NAT44_INTERFACE_PREFIX}{interface_name}")


def nat44_address_pool(first_ip: str, last_ip: str = "", twice_nat: bool = False) -> Key:
    prefix = NAT44_TWICE_NAT_POOL_PREFIX if twice_nat else NAT44_SNAT_POOL_PREFIX
    return Key(f"{prefix}{first_ip}-{last_ip or first_ip}")


def nat44_address_pool_range(key: str) -> tuple[str, str, bool] | None:
    """(first IP, last IP, twice-NAT) of an address-pool key; None for any other key."""
    if not key.startswith(NAT44_POOL_PREFIX):
        return None
    pool, _, addresses = key.removeprefix(NAT44_POOL_PREFIX).partition("/")
    first, _, last = addresses.partition("-")
    if pool not in ("snat", "twice-nat") or not first or not last:
        return None
    return first, last, pool == "twice-nat"


def _l4(protocol: str | None, port: int) -> str:
    return f"{protocol}/{port}" if protocol else "all"


def nat44_static_mapping(external: str, protocol: str | None, external_port: int) -> Key:
    """``external`` is the external IP, or the logical name of the external interface."""
    return Key(f"{NAT44_STATIC_PREFIX}{external}/{_l4(protocol, external_port)}")


def nat44_lb_static_mapping(external_ip: str, protocol: str, external_port: int) -> Key:
    return Key(f"{NAT44_LB_PREFIX}{external_ip}/{_l4(protocol, external_port)}")


def nat44_identity_mapping(vrf_id: int, target: str, protocol: str | None, port: int) -> Key:
    """``target`` is the IP, or the logical name of the interface whose address is meant."""
    return Key(f"{NAT44_IDENTITY_PREFIX}vrf/{vrf_id}/{target}/{_l4(protocol, port)}")


def acl(name: str) -> Key:
    return Key(f"{ACL_PREFIX}{name}")


def acl_interface(interface_name: str) -> Key:
    return Key(f"{ACL_INTERFACE_PREFIX}{interface_name}")


def _ns(netns: str) -> str:
    """The netns path as one key segment, one-to-one: ``/var/run/netns/a_b`` and
    ``/var/run/netns/a/b`` must never share their values' keys.

    ``/`` becomes ``_`` (so plain paths keep their readable, recorded keys), after ``%`` and
    ``_`` are escaped; ``%`` is then followed only by ``25``/``5F``, leaving ``%R`` (a relative
    path) and ``%h`` (the path ``/host``, which would otherwise read as the agent's own netns).
    """
    if not netns:
        return HOST_NETNS
    escaped = netns.replace("%", "%25").replace("_", "%5F").replace("/", "_")
    if not netns.startswith("/"):
        return "%R" + escaped
    segment = escaped[1:]
    return "%" + segment if segment == HOST_NETNS else segment


def linux_route(netns: str, dst: str) -> Key:
    return Key(f"{LINUX_ROUTE_PREFIX}{_ns(netns)}/{dst}")


def linux_neighbor(netns: str, interface_name: str, ip: str) -> Key:
    return Key(f"{LINUX_NEIGHBOR_PREFIX}{_ns(netns)}/{interface_name}/{ip}")
