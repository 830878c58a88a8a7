"""Node-level VPP config: the two VRFs, the pod gateway loopback and the inter-VRF routes.

Pods live in the pod VRF behind one gateway loopback holding the node's pod-subnet gateway
address; their TAPs are unnumbered to it. Traffic leaving the pod VRF goes to the main VRF by
a default inter-VRF route, and the main VRF sends this node's pod subnet back into the pod VRF.
"""

from __future__ import annotations

from contivpp import ipam
from contivpp.config import AgentConfig
from contivpp.model import keys
from contivpp.model.vpp import Interface, Route, VrfTable
from contivpp.reconcile.api import Key

POD_GATEWAY_LOOPBACK = "podGwLoop"


def render_node(config: AgentConfig, node_id: int) -> dict[Key, object]:
    subnet = ipam.node_pod_subnet(config.ipam, node_id)
    gateway = ipam.pod_gateway(config.ipam, node_id)
    main, pod = config.main_vrf, config.pod_vrf
    out: dict[Key, object] = {
        keys.vrf(main): VrfTable(main, "mainVRF-IPv4"),
        keys.vrf(pod): VrfTable(pod, "podVRF-IPv4"),
        keys.interface(POD_GATEWAY_LOOPBACK): Interface(
            name=POD_GATEWAY_LOOPBACK,
            kind="loopback",
            vrf=pod,
            ip_addresses=(f"{gateway}/{subnet.prefixlen}",),
        ),
    }
    routes = (
        Route(vrf=pod, dst="0.0.0.0/0", next_hop_vrf=main),
        Route(vrf=main, dst=str(subnet), next_hop_vrf=pod),
    )
    for r in routes:
        out[keys.route(r.vrf, r.dst, r.next_hop, r.out_interface)] = r
    return out
