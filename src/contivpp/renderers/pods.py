"""Per-pod wiring: a VPP TAP into the pod netns, its /32 route and ARP, and the pod side.

The TAP is unnumbered to the gateway loopback in the pod VRF; VPP reaches the pod by a /32
route and a static ARP entry. Inside the pod netns, ``eth0`` holds the /32; a link-scope route
to the gateway comes before the default route through it (the reverse order fails, a bug
Contiv once had), and a static ARP entry for the gateway avoids an ARP round trip at start.
MAC addresses are derived from the container ID so a re-render gives the same ones.
"""

from __future__ import annotations

from contivpp import ipam
from contivpp.config import AgentConfig
from contivpp.events.state import LocalPod
from contivpp.model import keys
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.model.vpp import Interface, Neighbor, Route, TapLink
from contivpp.reconcile.api import Key
from contivpp.renderers.node import POD_GATEWAY_LOOPBACK


def _fnv32a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def _mac(value: int) -> str:
    return "02:fe:" + ":".join(f"{(value >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def pod_macs(container_id: str, ifname: str) -> tuple[str, str]:
    """(pod-side MAC, VPP-side MAC); the VPP side uses the complement so they never collide."""
    h = _fnv32a(f"{container_id}/{ifname}")
    return _mac(h), _mac(~h & 0xFFFFFFFF)


def tap_name(container_id: str) -> str:
    """The TAP's logical name (its VPP tag, at most 63 bytes), unique per container ID."""
    name = f"tap-{container_id}"
    if len(name) <= 63:
        return name
    # Long IDs are cut, with a hash of the whole ID so two IDs sharing a prefix never collide.
    return f"{name[:54]}-{_fnv32a(container_id):08x}"


def render_pod(config: AgentConfig, node_id: int, pod: LocalPod) -> dict[Key, object]:
    if not pod.ip:
        return {}
    gateway = str(ipam.pod_gateway(config.ipam, node_id))
    pod_mac, vpp_mac = pod_macs(pod.container_id, pod.ifname)
    tap = tap_name(pod.container_id)
    tap_key = keys.interface(tap)
    host = f"{pod.ip}/32"
    route = Route(vrf=config.pod_vrf, dst=host, next_hop=pod.ip, out_interface=tap)
    # In the pod: a link route to the gateway first, then the default route through it.
    link_key = keys.linux_route(pod.netns, f"{gateway}/32")
    link_route = LinuxRoute(pod.netns, pod.ifname, f"{gateway}/32", after=(tap_key,))
    default = LinuxRoute(pod.netns, pod.ifname, "0.0.0.0/0", gateway=gateway, after=(link_key,))
    return {
        tap_key: Interface(
            name=tap,
            kind="tap",
            vrf=config.pod_vrf,
            mac=vpp_mac,
            mtu=config.mtu,
            unnumbered_to=POD_GATEWAY_LOOPBACK,
            tap=TapLink(
                host_if_name=pod.ifname,
                host_namespace=pod.netns,
                host_mac=pod_mac,
                host_ip4_prefix=host,
            ),
        ),
        keys.route(route.vrf, route.dst, route.next_hop, route.out_interface): route,
        keys.neighbor(tap, pod.ip): Neighbor(tap, pod.ip, pod_mac),
        link_key: link_route,
        keys.linux_route(pod.netns, default.dst): default,
        keys.linux_neighbor(pod.netns, pod.ifname, gateway): LinuxNeighbor(
            pod.netns, pod.ifname, gateway, vpp_mac, after=(tap_key,)
        ),
    }
