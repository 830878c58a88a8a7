"""Node-level config: VRFs, the pod gateway, the VPP-host link and the VXLAN full mesh.

Pods live in the pod VRF behind one gateway loopback holding the node's pod-subnet gateway;
their TAPs are unnumbered to it. The VPP-host link is a TAP whose Linux end ``vpp1`` sits in
the agent's namespace: the host reaches every pod through it, and VPP reaches the host's own
addresses through it. Other nodes are reached over VXLAN: one tunnel per remote node, all in
one bridge domain with a BVI loopback in the pod VRF, with static ARP and L2 FIB entries per
remote node (learning and flooding are off, so nothing depends on broadcast), and routes to
each remote node's pod and VPP-host subnets via its BVI address.

The node's own VPP address (the VXLAN source) sits on ``loopbackNIC`` in the main VRF, as in
Contiv when no data-plane NIC is configured.

With a main interface (``mainInterface``, or the NIC the STN daemon stole) VPP also gets the
uplink: a host-interface (af_packet) on that NIC in the main VRF with the node's address, the
default route via the NIC's gateway and the NIC's other routes. The VXLAN source stays on
``loopbackNIC`` (the overlay between nodes is not moved onto the uplink).
"""

from __future__ import annotations

from ipaddress import IPv4Address

import attrs

from contivpp import ipam
from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.state import ClusterState, NodeEntry
from contivpp.model import keys
from contivpp.model.linux import LinuxRoute
from contivpp.model.vpp import (
    AfPacketLink,
    BridgeDomain,
    BridgeDomainMember,
    Interface,
    L2FibEntry,
    Neighbor,
    Route,
    TapLink,
    VrfTable,
    VxlanLink,
)
from contivpp.reconcile.api import Key

POD_GATEWAY_LOOPBACK = "podGwLoop"
HOST_TAP = "tap-vpp2"
HOST_TAP_LINUX_NAME = "vpp1"
NIC_LOOPBACK = "loopbackNIC"
#: The logical name (VPP tag) of the uplink host-interface.
UPLINK = "uplink"
VXLAN_BVI = "vxlanBVI"
VXLAN_BD = "vxlanBD"
VXLAN_BD_ID = 1
VXLAN_SPLIT_HORIZON_GROUP = 1


@attrs.frozen
class RemoteNode:
    name: str
    id: int
    vpp_ip: str  # the remote VXLAN end point
    mgmt_ips: tuple[str, ...] = ()


def _id_mac(prefix: str, node_id: int) -> str:
    return prefix + ":" + ":".join(f"{(node_id >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def bvi_mac(node_id: int) -> str:
    return _id_mac("12:2b", node_id)


def host_tap_mac(node_id: int) -> str:
    return _id_mac("34:3c", node_id)


def mgmt_ips(state: ClusterState, node_name: str) -> tuple[str, ...]:
    """The Kubernetes Node's internal and external IPv4 addresses, sorted."""
    node = state.of_kind("Node").get(("", node_name))
    if not isinstance(node, k8s.Node):
        return ()
    ips = set()
    for addr in node.addresses:
        if addr.type in ("InternalIP", "ExternalIP"):
            try:
                ips.add(IPv4Address(addr.address))
            except ValueError:
                continue  # IPv6 or junk: not routed by this IPv4 renderer
    return tuple(str(ip) for ip in sorted(ips))


def remote_node(state: ClusterState, entry: NodeEntry) -> RemoteNode:
    """What this node needs to know of another node to reach it."""
    vpp_ip = entry.ip_addresses[0].split("/")[0] if entry.ip_addresses else ""
    if not vpp_ip:
        vpp_ip = str(ipam.node_interconnect_ip(state.config.ipam, entry.id))
    return RemoteNode(entry.name, entry.id, vpp_ip, mgmt_ips(state, entry.name))


def _route(out: dict[Key, object], route: Route) -> None:
    out[keys.route(route.vrf, route.dst, route.next_hop, route.out_interface)] = route


def render_node_base(
    config: AgentConfig, node_id: int, host_ips: tuple[str, ...]
) -> dict[Key, object]:
    """This node's own values: VRFs, the pod gateway, the VPP-host link, the VXLAN end point."""
    out: dict[Key, object] = {}
    _vrfs_and_gateway(out, config, node_id)
    _host_link(out, config, node_id, host_ips)
    _uplink(out, config)
    plan = config.ipam
    out[keys.interface(NIC_LOOPBACK)] = Interface(
        name=NIC_LOOPBACK,
        kind="loopback",
        vrf=config.main_vrf,
        ip_addresses=(
            f"{ipam.node_interconnect_ip(plan, node_id)}/{plan.node_interconnect_cidr.prefixlen}",
        ),
    )
    out[keys.interface(VXLAN_BVI)] = Interface(
        name=VXLAN_BVI,
        kind="loopback",
        vrf=config.pod_vrf,
        mac=bvi_mac(node_id),
        ip_addresses=(f"{ipam.vxlan_ip(plan, node_id)}/{plan.vxlan_cidr.prefixlen}",),
    )
    return out


def _vrfs_and_gateway(out: dict[Key, object], config: AgentConfig, node_id: int) -> None:
    plan = config.ipam
    main, pod = config.main_vrf, config.pod_vrf
    subnet = ipam.node_pod_subnet(plan, node_id)
    out[keys.vrf(main)] = VrfTable(main, "mainVRF-IPv4")
    out[keys.vrf(pod)] = VrfTable(pod, "podVRF-IPv4")
    out[keys.interface(POD_GATEWAY_LOOPBACK)] = Interface(
        name=POD_GATEWAY_LOOPBACK,
        kind="loopback",
        vrf=pod,
        ip_addresses=(f"{ipam.pod_gateway(plan, node_id)}/{subnet.prefixlen}",),
    )
    host_subnet = ipam.vpp_host_subnet(plan, node_id)
    for route in (
        # Pods reach everything not in the pod VRF through the main VRF ...
        Route(vrf=pod, dst="0.0.0.0/0", next_hop_vrf=main),
        Route(vrf=pod, dst=str(host_subnet), next_hop_vrf=main),
        # ... and the main VRF sends every pod and VPP-host subnet into the pod VRF, where
        # local pods have /32 routes and remote nodes' subnets go over VXLAN.
        Route(vrf=main, dst=str(plan.pod_subnet_cidr), next_hop_vrf=pod),
        Route(vrf=main, dst=str(plan.vpp_host_subnet_cidr), next_hop_vrf=pod),
        # Anything else in those ranges is dropped in the pod VRF instead of looping
        # back to the main VRF by the default route.
        Route(vrf=pod, dst=str(plan.pod_subnet_cidr), drop=True),
        Route(vrf=pod, dst=str(plan.vpp_host_subnet_cidr), drop=True),
    ):
        _route(out, route)


def _host_link(
    out: dict[Key, object], config: AgentConfig, node_id: int, host_ips: tuple[str, ...]
) -> None:
    plan = config.ipam
    subnet = ipam.vpp_host_subnet(plan, node_id)
    vpp_ip = ipam.vpp_host_vpp_ip(plan, node_id)
    linux_ip = ipam.vpp_host_linux_ip(plan, node_id)
    tap_key = keys.interface(HOST_TAP)
    out[tap_key] = Interface(
        name=HOST_TAP,
        kind="tap",
        vrf=config.main_vrf,
        mac=host_tap_mac(node_id),
        mtu=config.mtu,
        ip_addresses=(f"{vpp_ip}/{subnet.prefixlen}",),
        tap=TapLink(
            host_if_name=HOST_TAP_LINUX_NAME, host_ip4_prefix=f"{linux_ip}/{subnet.prefixlen}"
        ),
    )
    # VPP reaches the host's own addresses through the host end of the link.
    for ip in host_ips:
        _route(
            out,
            Route(
                vrf=config.main_vrf, dst=f"{ip}/32", next_hop=str(linux_ip), out_interface=HOST_TAP
            ),
        )
    # The host reaches every pod and VPP-host subnet (all nodes) through VPP, and with
    # routeServiceCIDRToVPP the service CIDR, which VPP's NAT translates on the host link.
    host_routed = [plan.pod_subnet_cidr, plan.vpp_host_subnet_cidr]
    if config.route_service_cidr_to_vpp:
        host_routed.append(plan.service_cidr)
    for dst in host_routed:
        route = LinuxRoute(
            netns="",
            interface=HOST_TAP_LINUX_NAME,
            dst=str(dst),
            gateway=str(vpp_ip),
            after=(tap_key,),
        )
        out[keys.linux_route("", route.dst)] = route


def _uplink(out: dict[Key, object], config: AgentConfig) -> None:
    main = config.main_interface
    if main is None:
        return
    out[keys.interface(UPLINK)] = Interface(
        name=UPLINK,
        kind="af_packet",
        vrf=config.main_vrf,
        ip_addresses=(main.address,),
        af_packet=AfPacketLink(host_if_name=main.interface),
    )
    if main.gateway:
        _route(
            out,
            Route(
                vrf=config.main_vrf, dst="0.0.0.0/0", next_hop=main.gateway, out_interface=UPLINK
            ),
        )
    for r in main.routes:
        _route(out, Route(vrf=config.main_vrf, dst=r.dst, next_hop=r.via, out_interface=UPLINK))


def tunnel_name(remote_id: int) -> str:
    return f"vxlan{remote_id}"


def render_mesh(
    config: AgentConfig, node_id: int, remote_ids: tuple[int, ...]
) -> dict[Key, object]:
    """The VXLAN bridge domain: the BVI and one tunnel per remote node (``remote_ids`` in
    ID order). One value, because VPP's bridge domain lists its members."""
    members = [BridgeDomainMember(VXLAN_BVI, bvi=True, split_horizon_group=0)]
    members.extend(
        BridgeDomainMember(tunnel_name(rid), split_horizon_group=VXLAN_SPLIT_HORIZON_GROUP)
        for rid in remote_ids
    )
    return {
        keys.bridge_domain(VXLAN_BD): BridgeDomain(
            name=VXLAN_BD, bd_id=VXLAN_BD_ID, members=tuple(members)
        )
    }


def render_remote(config: AgentConfig, node_id: int, remote: RemoteNode) -> dict[Key, object]:
    """What reaches one remote node: its tunnel, its BVI's ARP and L2 FIB entries, and routes
    to its pod and VPP-host subnets and management addresses."""
    plan = config.ipam
    out: dict[Key, object] = {}
    tunnel = tunnel_name(remote.id)
    out[keys.interface(tunnel)] = Interface(
        name=tunnel,
        kind="vxlan",
        vrf=config.main_vrf,
        vxlan=VxlanLink(
            src=str(ipam.node_interconnect_ip(plan, node_id)),
            dst=remote.vpp_ip,
            vni=config.vxlan_vni,
        ),
    )
    remote_bvi_ip = str(ipam.vxlan_ip(plan, remote.id))
    remote_mac = bvi_mac(remote.id)
    out[keys.neighbor(VXLAN_BVI, remote_bvi_ip)] = Neighbor(VXLAN_BVI, remote_bvi_ip, remote_mac)
    out[keys.l2fib(VXLAN_BD, remote_mac)] = L2FibEntry(VXLAN_BD, VXLAN_BD_ID, remote_mac, tunnel)
    destinations = [
        str(ipam.node_pod_subnet(plan, remote.id)),
        str(ipam.vpp_host_subnet(plan, remote.id)),
        *(f"{ip}/32" for ip in remote.mgmt_ips),
    ]
    for dst in destinations:
        _route(
            out,
            Route(vrf=config.pod_vrf, dst=dst, next_hop=remote_bvi_ip, out_interface=VXLAN_BVI),
        )
    return out
