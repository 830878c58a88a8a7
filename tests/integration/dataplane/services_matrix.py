"""The services reachability matrix: a two-node cluster, its services, and who may answer whom.

Shared by the model test (``test_services_matrix.py``: the matrix evaluated by
``contivpp.dataplane`` over snapshots of simulators programmed by the real renderers,
descriptors and scheduler) and the real-traffic test (``test_services_traffic.py``: the same
rows with real sockets, checked against the same model).

The cluster is an event log per node, replayed by the controller as the agent would: node-1
(InternalIP 10.20.0.11) and node-2 (10.20.0.12) with node IDs 1 and 2, three pods each (IPAM
gives them 10.1.N.2, .3, .4 in CNI ADD order), and the services below. Every row's expectation
is written from kube-proxy's semantics (``pkg/proxy/topology.go`` ``CategorizeEndpoints``,
``nftables/proxier.go``), never from the renderer: which backends may answer, or that the
connection is dropped, or rejected (ICMP unreachable, as kube-proxy's REJECT).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from contivpp.dataplane import Outcome, Snapshot, read_snapshot
from contivpp.vpp.client import VPPClient

CONFIG: dict[str, object] = {
    "ipam": {
        "nodeInterconnectCIDR": "192.168.16.0/24",
        "podSubnetCIDR": "10.1.0.0/16",
        "podSubnetOneNodePrefixLen": 24,
        "serviceCIDR": "10.96.0.0/12",
        "vppHostSubnetCIDR": "172.30.0.0/16",
        "vppHostSubnetOneNodePrefixLen": 24,
        "vxlanCIDR": "192.168.30.0/24",
    }
}
NODE_IPS = {"node-1": "10.20.0.11", "node-2": "10.20.0.12"}
#: The host end of each node's VPP-host link (``vpp1``): the host's source towards VPP.
HOST_IPS = {"node-1": "172.30.1.2", "node-2": "172.30.2.2"}
#: VPP's end of the host link: a NodePort frontend too (this node's VPP addresses).
HOST_LINK_VPP = {"node-1": "172.30.1.1", "node-2": "172.30.2.1"}
#: pod name -> (node, IP). IPs are IPAM's, in CNI ADD order on each node.
PODS = {
    "c1": ("node-1", "10.1.1.2"),
    "a1": ("node-1", "10.1.1.3"),
    "b1": ("node-1", "10.1.1.4"),
    "c2": ("node-2", "10.1.2.2"),
    "a2": ("node-2", "10.1.2.3"),
    "b2": ("node-2", "10.1.2.4"),
}
#: A backend that is a node's host (a host-network pod): its endpoint IP is the node's.
HOSTS = {"host-1": ("node-1", NODE_IPS["node-1"]), "host-2": ("node-2", NODE_IPS["node-2"])}
TCP_PORT, UDP_PORT, API_PORT = 8080, 5353, 6443
LB_IP, EXTERNAL_IP = "203.0.113.7", "198.51.100.10"


def _ep(pod: str, ready: bool = True, serving: bool | None = None, terminating: bool = False):  # type: ignore[no-untyped-def]
    node, ip = PODS.get(pod) or HOSTS[pod]
    conditions = {"ready": ready, "serving": ready if serving is None else serving,
                  "terminating": terminating}  # fmt: skip
    return {"addresses": [ip], "conditions": conditions, "nodeName": node,
            "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}  # fmt: skip


def _service(
    name: str,
    cluster_ip: str,
    ports: list[dict[str, object]],
    endpoints: list[dict[str, object]],
    **spec: object,
) -> list[dict[str, object]]:
    """The Service and its EndpointSlice. A named targetPort is resolved to ``TCP_PORT`` (the
    EndpointSlice controller resolves it per pod)."""
    status = spec.pop("status", {})
    slice_ports = [
        {
            "name": p["name"],
            "port": p["targetPort"] if isinstance(p["targetPort"], int) else TCP_PORT,
            "protocol": p.get("protocol", "TCP"),
        }
        for p in ports
    ]
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": ports, **spec},
        "status": status,
    }  # fmt: skip
    eps = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports,
    }  # fmt: skip
    return [service, eps]


HTTP = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": TCP_PORT}
DNS = {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": UDP_PORT}


def _node_port(number: int) -> dict[str, object]:
    return {**HTTP, "nodePort": number}


#: The services, as the API server and the EndpointSlice controller would write them.
SERVICES: list[dict[str, object]] = [
    # ClusterIP TCP and UDP over ready endpoints on both nodes; b2 is not ready.
    *_service("spread", "10.96.0.20", [HTTP, DNS],
              [_ep("a1"), _ep("a2"), _ep("b2", ready=False)]),
    # The only endpoint is on node-2.
    *_service("far", "10.96.0.21", [HTTP], [_ep("a2")]),
    # a1 is the only endpoint: a1 dialling it is hairpin (self-twice-NAT).
    *_service("self", "10.96.0.22", [HTTP], [_ep("a1")]),
    # NodePort, externalTrafficPolicy Cluster.
    *_service("np", "10.96.0.23", [_node_port(30080)], [_ep("a1"), _ep("a2")], type="NodePort"),
    # externalTrafficPolicy Local: an endpoint only on node-1; an external IP too.
    *_service("etp", "10.96.0.24", [_node_port(30081)], [_ep("b1")], type="NodePort",
              externalTrafficPolicy="Local", externalIPs=["198.51.100.11"]),
    # internalTrafficPolicy Local: an endpoint only on node-1.
    *_service("itp", "10.96.0.25", [HTTP], [_ep("b1")], internalTrafficPolicy="Local"),
    # Only terminating endpoints: the serving one is used (a2 terminates, not serving).
    *_service("rolling", "10.96.0.26", [HTTP],
              [_ep("a1", ready=False, serving=True, terminating=True),
               _ep("a2", ready=False, serving=False, terminating=True)]),
    # No endpoints at all.
    *_service("empty", "10.96.0.27", [HTTP], []),
    # A LoadBalancer whose source ranges admit node-1's host link only.
    *_service("lb", "10.96.0.28", [_node_port(30082)], [_ep("a1"), _ep("a2")],
              type="LoadBalancer", loadBalancerSourceRanges=["172.30.1.0/24"],
              status={"loadBalancer": {"ingress": [{"ip": LB_IP}]}}),
    # externalIPs.
    *_service("ext", "10.96.0.29", [HTTP], [_ep("a1"), _ep("a2")], externalIPs=[EXTERNAL_IP]),
    # A host-network pod of node-1 and a pod behind one port: one slice per target port.
    *_service("mixed", "10.96.0.30", [{**HTTP, "targetPort": "http"}], [_ep("a1")]),
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "mixed-2", "namespace": "default",
                  "labels": {"kubernetes.io/service-name": "mixed"}},
     "addressType": "IPv4", "endpoints": [_ep("host-1")],
     "ports": [{"name": "http", "port": API_PORT, "protocol": "TCP"}]},
    # The API server: a host-network pod on node-1 (the kubernetes service).
    *_service("kubernetes", "10.96.0.1",
              [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": API_PORT}],
              [_ep("host-1")]),
]  # fmt: skip


def event_log(
    node: str, netns: Mapping[str, str] | None = None, config: Mapping[str, object] = CONFIG
) -> list[str]:
    """The log ``node``'s agent would record: both nodes, its pods' CNI ADDs, the services.
    ``netns``: pod name -> network namespace (default: ``ctvsm-<pod>``)."""
    ts = "2026-12-01T00:00:00Z"
    lines: list[dict[str, object]] = [{"config": dict(config), "format": "contivpp-events/1",
                                       "node": node}]  # fmt: skip
    objects: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
        *(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n},
             "status": {"addresses": [{"address": ip, "type": "InternalIP"}]}}
            for n, ip in NODE_IPS.items()
        ),
    ]  # fmt: skip
    records: list[dict[str, object]] = [{"type": "k8s.upsert", "object": o} for o in objects]
    records += [{"type": "node.id", "id": i, "name": n} for i, n in ((1, "node-1"), (2, "node-2"))]
    for pod, (where, _) in PODS.items():
        if where != node:
            continue
        ns = (netns or {}).get(pod, f"ctvsm-{pod}")
        records.append({"type": "cni.add", "container_id": f"{pod}-container".ljust(64, "0"),
                        "ifname": "eth0", "netns": f"/var/run/netns/{ns}", "pod_name": pod,
                        "pod_namespace": "default"})  # fmt: skip
    records += [{"type": "k8s.upsert", "object": o} for o in SERVICES]
    for seq, record in enumerate(records, 1):
        lines.append({**record, "seq": seq, "ts": ts})
    return [json.dumps(line) for line in lines]


@attrs.frozen
class Row:
    """One connection: who dials what, and what kube-proxy lets happen."""

    name: str
    client: str  # a pod name, or "host-1" / "host-2" (the node itself, through its host link)
    dst: str
    port: int
    proto: str = "tcp"
    #: The backends (pod names, or host-N) that may answer; empty when none may.
    backends: frozenset[str] = frozenset()
    #: When no backend may answer: "drop" (silence) or "reject" (ICMP unreachable at once).
    refused: str = ""
    #: The source the backend sees: "client" (kube-proxy keeps it: pod to ClusterIP,
    #: externalTrafficPolicy Local) or "masqueraded" (NodePort, external and LB IPs with
    #: policy Cluster, and hairpin).
    sees: str = "client"
    #: Why the row is known not to hold yet (a strict xfail naming the gap), "" if it holds.
    gap: str = ""

    @property
    def node(self) -> str:
        """The node the client sits on."""
        return (PODS.get(self.client) or HOSTS[self.client])[0]


def _r(name: str, client: str, dst: str, port: int, *answer: str, proto: str = "tcp",
       masquerade: bool = False, gap: str = "") -> Row:  # fmt: skip
    refused = answer[0] if answer and answer[0] in ("drop", "reject") else ""
    backends = frozenset() if refused else frozenset(answer)
    sees = "masqueraded" if masquerade else "client"
    return Row(name, client, dst, port, proto, backends, refused, sees, gap)


NP1 = NODE_IPS["node-1"]
ROWS: list[Row] = [
    _r("clusterip-tcp-from-node-1", "c1", "10.96.0.20", 80, "a1", "a2"),
    _r("clusterip-tcp-from-node-2", "c2", "10.96.0.20", 80, "a1", "a2"),
    _r("clusterip-udp-from-node-1", "c1", "10.96.0.20", 53, "a1", "a2", proto="udp"),
    _r("clusterip-udp-from-node-2", "c2", "10.96.0.20", 53, "a1", "a2", proto="udp"),
    _r("endpoint-only-on-the-other-node", "c1", "10.96.0.21", 80, "a2"),
    _r("hairpin-pod-dials-its-own-service", "a1", "10.96.0.22", 80, "a1", masquerade=True),
    _r("nodeport-from-own-host", "host-1", NP1, 30080, "a1", "a2", masquerade=True),
    _r("nodeport-on-vpp-host-link-from-own-host", "host-1", HOST_LINK_VPP["node-1"], 30080,
       "a1", "a2", masquerade=True),
    _r("nodeport-from-the-other-node-host", "host-2", NP1, 30080, "a1", "a2", masquerade=True),
    _r("nodeport-from-a-pod-of-the-other-node", "c2", NP1, 30080, "a1", "a2", masquerade=True),
    _r("etp-local-nodeport-local-endpoint", "host-1", NP1, 30081, "b1"),
    _r("etp-local-nodeport-on-vpp-host-link-local-endpoint", "host-1",
       HOST_LINK_VPP["node-1"], 30081, "b1"),
    _r("etp-local-external-ip-local-endpoint", "host-1", "198.51.100.11", 80, "b1"),
    _r("etp-local-external-ip-none-on-this-node", "host-2", "198.51.100.11", 80, "drop"),
    _r("etp-local-nodeport-none-on-this-node", "host-2", NODE_IPS["node-2"], 30081, "drop",
       gap="a node address is never closed: the packet reaches the host, which resets it"),
    _r("itp-local-local-endpoint", "c1", "10.96.0.25", 80, "b1"),
    _r("itp-local-none-on-this-node", "c2", "10.96.0.25", 80, "drop"),
    _r("terminating-only-serving-endpoint", "c2", "10.96.0.26", 80, "a1"),
    _r("no-endpoints-rejected", "c1", "10.96.0.27", 80, "reject"),
    _r("port-the-service-does-not-have", "c1", "10.96.0.20", 81, "reject"),
    _r("unallocated-cluster-ip", "c1", "10.96.0.99", 80, "drop"),
    _r("port-the-service-does-not-have-from-the-other-node", "c2", "10.96.0.21", 53, "reject",
       proto="udp"),
    _r("lb-source-range-admits", "host-1", LB_IP, 80, "a1", "a2", masquerade=True),
    _r("lb-source-range-refuses", "host-2", LB_IP, 80, "drop"),
    _r("external-ip", "host-1", EXTERNAL_IP, 80, "a1", "a2", masquerade=True),
    # The node itself (routeServiceCIDRToVPP routes the service CIDR to the host link).
    _r("clusterip-from-own-host", "host-1", "10.96.0.20", 80, "a1", "a2"),
    _r("clusterip-udp-from-the-other-node-host", "host-2", "10.96.0.20", 53, "a1", "a2",
       proto="udp"),
    _r("host-network-endpoint-on-own-node", "c1", "10.96.0.1", 443, "host-1"),
    _r("host-network-and-pod-endpoints-from-node-1", "c1", "10.96.0.30", 80, "host-1", "a1"),
    _r("host-network-and-pod-endpoints-from-node-2", "c2", "10.96.0.30", 80, "host-1", "a1"),
    _r("host-network-endpoint-on-the-other-node", "c2", "10.96.0.1", 443, "host-1"),
]  # fmt: skip


def backend_at(node: str, ip: str) -> str:
    """The backend name of the address a connection was delivered to on ``node``."""
    for name, (where, address) in {**PODS, **HOSTS}.items():
        if address == ip and where == node:
            return name
    return f"{node}:{ip}"


def judge(row: Row, outcome: Outcome) -> str:
    """The backend a request reached, or "drop" / "reject", or "?..." for anything else."""
    if outcome.result == "dropped":
        return "drop"
    if outcome.result == "rejected":
        return "reject"
    if outcome.result == "delivered" and outcome.stage == "deliver":
        return backend_at(outcome.node, outcome.packet.dst)
    return f"?{outcome.result} at {outcome.stage} on {outcome.node}: {outcome.reason}"


async def snapshots_of(socks: Mapping[str, str]) -> list[Snapshot]:
    """Each node's VPP read over its API socket (node name -> socket)."""
    snaps = []
    for node, sock in socks.items():
        async with VPPClient(sock, timeout=5) as client:
            snaps.append(await read_snapshot(client, node))
    return snaps
