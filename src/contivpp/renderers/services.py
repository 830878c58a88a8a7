"""Kubernetes services as VPP NAT44-ED: one service's NAT values, and the node's NAT set-up.

VPP replaces kube-proxy: what kube-proxy writes as nftables rules is rendered here as NAT44-ED
static and load-balanced mappings, FIB routes for frontends nothing may answer, and an ACL for
``loadBalancerSourceRanges``. Each function is pure and takes one service (with its
EndpointSlices) or the node's context, so a changed endpoint re-renders one service and the
scheduler touches only that service's mappings. The semantics follow kube-proxy
(``pkg/proxy/endpointslicecache.go``, ``topology.go`` ``CategorizeEndpoints`` and
``nftables/proxier.go``); where VPP cannot express something, ``docs/services.md`` says so.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

import attrs

from contivpp import ipam
from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclProtocolName, AclRule, PortRange
from contivpp.model.nat import (
    Nat44AddressPool,
    Nat44Global,
    Nat44IdentityMapping,
    Nat44Interface,
    Nat44LbLocal,
    Nat44LbStaticMapping,
    Nat44StaticMapping,
    NatProtocol,
    TwiceNat,
)
from contivpp.model.vpp import Route
from contivpp.reconcile.api import Key
from contivpp.renderers.node import HOST_TAP, UPLINK, VXLAN_BVI

VXLAN_PORT = 4789
#: VPP keeps NAT mapping tags and ACL tags in 64-byte strings (63 bytes and a NUL).
MAX_TAG = 63
#: The last ACL on the host TAP's ingress when source ranges are filtered: VPP denies what no
#: ACL of an interface's list matches, so the list ends with "permit everything else".
PERMIT_REST_ACL = "svc-permit-rest"
_L4: dict[str, NatProtocol] = {"TCP": "tcp", "UDP": "udp"}
_ACL_PROTOCOLS: dict[str, AclProtocolName | int] = {"TCP": "tcp", "UDP": "udp", "SCTP": 132}

#: What a frontend whose port has no usable endpoint gets: kube-proxy REJECTs when the service
#: has no endpoint anywhere and DROPs when it has some but the traffic policy says "Local".
Verdict = Literal["reject", "drop"]


@attrs.frozen
class ServiceContext:
    """The node-level inputs of service rendering (all services of a node share one)."""

    config: AgentConfig
    node_name: str
    node_id: int
    #: IPv4 InternalIP / ExternalIP addresses of every node: a pod dialling any
    #: nodeIP:nodePort is translated on its own node, as kube-proxy does.
    node_ips: tuple[str, ...] = ()
    #: This node's own VPP addresses (the VXLAN source first, then the VPP end of the host
    #: link, then the uplink's): NodePort frontends too, and identity-mapped so VPP's own
    #: traffic is kept.
    vpp_ips: tuple[str, ...] = ()
    #: The SNAT pool of pods leaving the cluster: the uplink's address ("" without one).
    snat_ip: str = ""
    #: The twice-NAT source: where kube-proxy masquerades, replies must come back here.
    nat_loopback: str = ""
    #: This node's own IPv4 InternalIP / ExternalIP addresses: a local endpoint at one of
    #: them is a host-network pod, reached through the host link in the main VRF.
    host_ips: tuple[str, ...] = ()


def service_context(config: AgentConfig, node_id: int, nodes: Iterable[k8s.Node]) -> ServiceContext:
    """The context of node ``node_id`` given every Kubernetes Node of the cluster."""
    plan = config.ipam
    node_ips = _ipv4(
        a.address for n in nodes for a in n.addresses if a.type in ("InternalIP", "ExternalIP")
    )
    host_link = str(ipam.vpp_host_vpp_ip(plan, node_id))
    vpp_ips: tuple[str, ...] = (str(ipam.node_interconnect_ip(plan, node_id)), host_link)
    # With an uplink, the node's address is VPP's (as in Contiv): NodePorts answer there and
    # pods leaving the cluster are source-NATed to it. Without one there is no SNAT.
    snat_ip = ""
    if config.main_interface is not None:
        snat_ip = config.main_interface.ip
        vpp_ips = (*vpp_ips, snat_ip)
    own = _ipv4(
        a.address
        for n in nodes
        if n.name == config.node_name
        for a in n.addresses
        if a.type in ("InternalIP", "ExternalIP")
    )
    return ServiceContext(
        config=config,
        node_name=config.node_name,
        node_id=node_id,
        node_ips=node_ips,
        vpp_ips=vpp_ips,
        nat_loopback=str(ipam.nat_loopback(plan, node_id)),
        snat_ip=snat_ip,
        host_ips=own,
    )


def skip_reason(service: k8s.Service) -> str | None:
    """Why ``service`` gets no NAT at all (for the caller to log once), or None."""
    if service.type == "ExternalName":
        return "ExternalName service: DNS only"
    if service.cluster_ip == "None":
        return "headless service: DNS only"
    if not service.cluster_ip:
        return "no cluster IP allocated yet"  # kube-proxy's ShouldSkipService
    if not _cluster_ips(service):
        return "IPv6 only: NAT44 translates IPv4"
    return None


# ---------------------------------------------------------------------------------------------
# One service


@attrs.frozen
class _Backend:
    ip: str
    port: int
    local: bool
    ready: bool
    serving: bool
    terminating: bool


@attrs.frozen
class _Choice:
    """The endpoints of one service port as kube-proxy's CategorizeEndpoints picks them."""

    internal: tuple[_Backend, ...]  # for ClusterIP traffic
    external: tuple[_Backend, ...]  # for NodePort, externalIPs and LB IPs
    has_any: bool  # a usable endpoint exists somewhere in the cluster


@attrs.frozen
class _Frontend:
    address: str
    port: int
    backends: tuple[_Backend, ...]
    twice_nat: TwiceNat
    owned: bool  # the address is the service's (cluster / external / LB IP), not a node's


def render_service(
    ctx: ServiceContext, service: k8s.Service, slices: Sequence[k8s.EndpointSlice]
) -> dict[Key, object]:
    """Every NAT44 value (and reject / drop route, and source-range ACL) of one service."""
    if skip_reason(service) is not None:
        return {}
    out: dict[Key, object] = {}
    label = _tag(service.namespace, service.name)
    affinity = service.session_affinity_timeout if service.session_affinity == "ClientIP" else 0
    ext_local = service.external_traffic_policy == "Local"
    # Where kube-proxy keeps the client's address only hairpin traffic (a pod reaching
    # itself) must be rewritten so the reply comes back through VPP: self-twice-NAT.
    # External traffic with policy Cluster is masqueraded: twice-NAT.
    external_nat: TwiceNat = "self" if ext_local else "enabled"
    owned_external = _ipv4(service.external_ips)
    if service.type == "LoadBalancer":
        owned_external = _ipv4((*owned_external, *service.lb_ingress_ips))
    node_ports = service.type in ("NodePort", "LoadBalancer")
    verdicts: dict[str, set[str]] = {}
    for port in service.ports:
        choice = _categorize(service, _backends(ctx, service, port, slices))
        frontends = [
            _Frontend(ip, port.port, choice.internal, "self", True) for ip in _cluster_ips(service)
        ]
        frontends += [
            _Frontend(ip, port.port, choice.external, external_nat, True) for ip in owned_external
        ]
        if node_ports and port.node_port:
            frontends += [
                _Frontend(ip, port.node_port, choice.external, external_nat, False)
                for ip in _ipv4((*ctx.node_ips, *ctx.vpp_ips))
            ]
        for frontend in frontends:
            mapped = _map(out, ctx, port, frontend, affinity, label)
            if frontend.owned:
                verdict = "map" if mapped else ("drop" if choice.has_any else "reject")
                verdicts.setdefault(frontend.address, set()).add(verdict)
    node_addresses = {*ctx.node_ips, *ctx.vpp_ips}
    cluster_ips = set(_cluster_ips(service))
    for address, seen in sorted(verdicts.items()):
        if address in node_addresses:
            continue
        if "map" not in seen:
            _close(out, ctx.config, address, "reject" if "reject" in seen else "drop")
        elif address in cluster_ips:
            # NAT44-ED translates the served ports before ip4-lookup, so this route only
            # sees the ports the service does not have: kube-proxy rejects them ("Reject
            # traffic to invalid ports of ClusterIPs"), or drops a port whose traffic
            # policy leaves this node no endpoint.
            _close(out, ctx.config, address, "drop" if "drop" in seen else "reject")
    if service.type == "LoadBalancer" and service.lb_source_ranges:
        lb_ips = _ipv4(service.lb_ingress_ips)
        if lb_ips:
            acl = _source_ranges_acl(service, lb_ips)
            out[keys.acl(acl.name)] = acl
    return out


def source_ranges_acl_name(service: k8s.Service) -> str:
    """The ACL that filters the sources of a LoadBalancer service with source ranges."""
    return _tag(service.namespace, service.name, prefix="svc-src/")


def _cluster_ips(service: k8s.Service) -> tuple[str, ...]:
    if service.ip_families and "IPv4" not in service.ip_families:
        return ()
    return _ipv4(service.cluster_ips or (service.cluster_ip,))


def _backends(
    ctx: ServiceContext,
    service: k8s.Service,
    port: k8s.ServicePort,
    slices: Sequence[k8s.EndpointSlice],
) -> list[_Backend]:
    """The service port's endpoints over all slices, each address:port once.

    A slice port matches by name and protocol, as in kube-proxy: the EndpointSlice controller
    already resolved the (possibly named) targetPort per pod, so one service port may have
    different backend ports in different slices.
    """
    found: dict[tuple[str, int], _Backend] = {}
    for eps in sorted(slices, key=lambda s: s.name):
        if eps.address_type != "IPv4" or (eps.namespace, eps.service_name) != (
            service.namespace,
            service.name,
        ):
            continue
        number = next(
            (p.port for p in eps.ports if (p.name, p.protocol) == (port.name, port.protocol)), 0
        )
        if not number:
            continue
        for ep in eps.endpoints:
            if not ep.addresses or _ipv4_int(ep.addresses[0]) is None:
                continue
            local = ep.node_name == ctx.node_name
            key = (ep.addresses[0], number)
            # Duplicates across slices count once; a local copy wins (kube-proxy's rule).
            if key not in found or local:
                found[key] = _Backend(key[0], number, local, ep.ready, ep.serving, ep.terminating)
    return [found[key] for key in sorted(found, key=lambda k: (_ipv4_int(k[0]), k[1]))]


def _categorize(service: k8s.Service, backends: list[_Backend]) -> _Choice:
    """kube-proxy's CategorizeEndpoints without topology hints.

    Usable means ready; when none is ready, serving and terminating (independently for the
    cluster-wide and the node-local choice).
    """
    fallback = [b for b in backends if b.serving and b.terminating]
    ready = [b for b in backends if b.ready]
    cluster = tuple(ready or fallback)
    local = tuple([b for b in ready if b.local] or [b for b in fallback if b.local])
    internal = local if service.internal_traffic_policy == "Local" else cluster
    external = local if service.external_traffic_policy == "Local" else cluster
    return _Choice(internal, external, bool(cluster))


def _map(
    out: dict[Key, object],
    ctx: ServiceContext,
    port: k8s.ServicePort,
    frontend: _Frontend,
    affinity: int,
    label: str,
) -> bool:
    """Render the mapping of one frontend; False when nothing can serve it."""
    if not frontend.backends:
        return False
    protocol = _L4.get(port.protocol)
    if protocol is None:
        return _map_address_only(out, ctx, port, frontend, label)
    if len(frontend.backends) == 1:
        backend = frontend.backends[0]
        key = keys.nat44_static_mapping(frontend.address, protocol, frontend.port)
        out[key] = Nat44StaticMapping(
            local_ip=backend.ip,
            external_ip=frontend.address,
            protocol=protocol,
            local_port=backend.port,
            external_port=frontend.port,
            vrf=_backend_vrf(ctx, backend),
            twice_nat=frontend.twice_nat,
            label=label,
        )
        return True
    key = keys.nat44_lb_static_mapping(frontend.address, protocol, frontend.port)
    out[key] = Nat44LbStaticMapping(
        external_ip=frontend.address,
        external_port=frontend.port,
        protocol=protocol,
        locals=tuple(
            Nat44LbLocal(b.ip, b.port, vrf=_backend_vrf(ctx, b)) for b in frontend.backends
        ),
        twice_nat=frontend.twice_nat,
        affinity=affinity,
        label=label,
    )
    return True


def _backend_vrf(ctx: ServiceContext, backend: _Backend) -> int:
    """The VRF VPP reaches ``backend`` in, and where its answers arrive: the NAT session's
    inside FIB must be that one, or the answer misses the session and the client hears the
    backend's own address instead of the service's (``nat44_ed_out2in.c`` looks the answer
    up with the receiving interface's FIB). Pods answer through their TAPs or VXLAN, in the
    pod VRF; a host-network pod of this node answers through the host link, in the main
    VRF."""
    if backend.local and backend.ip in ctx.host_ips:
        return ctx.config.main_vrf
    return ctx.config.pod_vrf


def _map_address_only(
    out: dict[Key, object],
    ctx: ServiceContext,
    port: k8s.ServicePort,
    frontend: _Frontend,
    label: str,
) -> bool:
    """SCTP: NAT44-ED translates it by address only (no ports, no balancing, no twice-NAT).

    So only an address the service owns is mapped (never a node's), to one backend that
    listens on the service port itself; the first such port of the address wins.
    """
    same_port = [b for b in frontend.backends if b.port == port.port]
    if not frontend.owned or not same_port:
        return False
    key = keys.nat44_static_mapping(frontend.address, None, 0)
    if key not in out:
        out[key] = Nat44StaticMapping(
            local_ip=same_port[0].ip,
            external_ip=frontend.address,
            vrf=_backend_vrf(ctx, same_port[0]),
            label=label,
        )
    return True


def _close(out: dict[Key, object], config: AgentConfig, address: str, verdict: Verdict) -> None:
    """A frontend address nothing may answer gets its own FIB entry instead of the default
    route, so its traffic never leaks out of the node: kube-proxy's REJECT is a path that
    answers ICMP unreachable at once, its DROP a drop path."""
    route = Route(
        vrf=config.main_vrf,
        dst=f"{address}/32",
        drop=verdict == "drop",
        unreachable=verdict == "reject",
    )
    out[keys.route(route.vrf, route.dst, route.next_hop, route.out_interface)] = route


def _source_ranges_acl(service: k8s.Service, lb_ips: tuple[str, ...]) -> Acl:
    """Only sources in ``loadBalancerSourceRanges`` reach the LB IPs on the service ports.

    VPP's NAT matches no source, so the filter is an ACL on the ingress of the interface
    external clients come through (bound by :func:`source_ranges_binding`).
    """
    ranges = []
    for cidr in service.lb_source_ranges:
        try:
            network = IPv4Network(cidr, strict=False)
        except ValueError:
            continue  # IPv6 (or junk): no IPv4 source matches it
        ranges.append(str(network))
    rules = []
    for ip in lb_ips:
        for port in service.ports:
            proto = _ACL_PROTOCOLS[port.protocol]
            dst_ports = PortRange(port.port, port.port)
            for src in sorted(set(ranges)):
                rules.append(AclRule("permit", src, f"{ip}/32", proto, dst_ports=dst_ports))
            rules.append(AclRule("deny", "", f"{ip}/32", proto, dst_ports=dst_ports))
    return Acl(source_ranges_acl_name(service), tuple(rules))


# ---------------------------------------------------------------------------------------------
# The node and its pods


def render_nat_node(ctx: ServiceContext) -> dict[Key, object]:
    """The NAT44-ED plugin, interface roles, pools, identity mappings of one node.

    Roles (VPP v26.06): LB mappings only work on the out2in path, so interfaces clients come
    from are inside *and* outside (the classify path), and forwarding is on (else traffic no
    mapping matches is dropped). With forwarding on, VPP never source-NATs dynamically on an
    inside interface (``nat44_ed_not_translate``); only an output-feature interface does.

    The host link is inside and outside, never an output-feature interface:
    ``nat44-ed-in2out-output`` looks sessions up with the FIB of the interface a packet
    *came in* on (``nat44_ed_not_translate_output_feature``), so a connection translated in
    the pod VRF and leaving by the host link in the main VRF (a NodePort answer to the host,
    a request to a host-network endpoint) would miss its own session and be source-NATed a
    second time. Without an uplink, ``natExternalTraffic`` therefore has nothing to
    source-NAT on and there is no SNAT pool.

    With an uplink (Contiv's main interface), pods leave the cluster through it: it takes the
    output-feature role with the node's address as the pool (natExternalTraffic), or inside
    and outside without it, so NodePorts on its address still translate. The same FIB rule
    applies there: a NodePort answer translated in the pod VRF leaves by the uplink and is
    source-NATed again (docs/services.md, "Known gaps").
    """
    config = ctx.config
    out: dict[Key, object] = {keys.nat44_global(): Nat44Global(forwarding=True)}
    roles = [Nat44Interface(HOST_TAP, inside=True, outside=True)]
    if config.main_interface is not None:
        if config.nat_external_traffic:
            roles.append(Nat44Interface(UPLINK, output=True))
            out[keys.nat44_address_pool(ctx.snat_ip)] = Nat44AddressPool(ctx.snat_ip)
        else:
            roles.append(Nat44Interface(UPLINK, inside=True, outside=True))
    roles.append(Nat44Interface(VXLAN_BVI, inside=True, outside=True))
    for role in roles:
        out[keys.nat44_interface(role.interface)] = role
    if ctx.nat_loopback:
        out[keys.nat44_address_pool(ctx.nat_loopback, twice_nat=True)] = Nat44AddressPool(
            ctx.nat_loopback, twice_nat=True
        )
    identities = [Nat44IdentityMapping(ip=ip, vrf=config.main_vrf) for ip in ctx.vpp_ips]
    if ctx.vpp_ips:  # the VXLAN source: the overlay itself is never translated
        identities.append(
            Nat44IdentityMapping(
                ip=ctx.vpp_ips[0], protocol="udp", port=VXLAN_PORT, vrf=config.main_vrf
            )
        )
    for identity in identities:
        key = keys.nat44_identity_mapping(
            identity.vrf, identity.ip, identity.protocol, identity.port
        )
        out[key] = identity
    # Traffic to a service IP that no mapping translated (an unallocated IP, a port the
    # service does not have) is dropped here instead of leaving by the default route.
    cidr = Route(vrf=config.main_vrf, dst=str(config.ipam.service_cidr), drop=True)
    out[keys.route(cidr.vrf, cidr.dst, cidr.next_hop, cidr.out_interface)] = cidr
    return out


def nat_pod_values(tap_name: str) -> dict[Key, object]:
    """What a local pod's TAP needs: inside and outside, so the pod can dial LB mappings."""
    return {keys.nat44_interface(tap_name): Nat44Interface(tap_name, inside=True, outside=True)}


def source_ranges_binding(acl_names: Iterable[str]) -> dict[Key, object]:
    """The host link's ingress ACLs for every service with source ranges (a node-level part:
    it changes only when a service gains or loses ``loadBalancerSourceRanges``)."""
    names = tuple(sorted(set(acl_names)))
    if not names:
        return {}
    rest = Acl(PERMIT_REST_ACL, (AclRule("permit"),))
    return {
        keys.acl(rest.name): rest,
        keys.acl_interface(HOST_TAP): AclInterface(HOST_TAP, ingress=(*names, rest.name)),
    }


# ---------------------------------------------------------------------------------------------
# Backends that went away


@attrs.frozen(order=True)
class Backend:
    """One backend of a mapping: where VPP's NAT sessions of that mapping point."""

    ip: str
    port: int
    protocol: NatProtocol
    vrf: int


def backends_of(value: object) -> frozenset[Backend]:
    """The port-translated backends of a NAT mapping value (none for anything else)."""
    if isinstance(value, Nat44StaticMapping) and value.protocol is not None:
        return frozenset({Backend(value.local_ip, value.local_port, value.protocol, value.vrf)})
    if isinstance(value, Nat44LbStaticMapping):
        return frozenset(
            Backend(local.ip, local.port, value.protocol, local.vrf) for local in value.locals
        )
    return frozenset()


# ---------------------------------------------------------------------------------------------
# Helpers


@functools.lru_cache(maxsize=1 << 17)
def _ipv4_int(text: str) -> int | None:
    """``text`` as an IPv4 number, None when it is not one. Parsing dominated rendering
    (``ipaddress`` is slow), and the same endpoint and node addresses recur across services."""
    try:
        return int(IPv4Address(text))
    except ValueError:
        return None


def _ipv4(addresses: Iterable[str]) -> tuple[str, ...]:
    """The IPv4 addresses among ``addresses``, each once, in address order."""
    numbered = {(n, a) for a in addresses if (n := _ipv4_int(a)) is not None}
    return tuple(dict.fromkeys(a for _, a in sorted(numbered)))


def _tag(namespace: str, name: str, prefix: str = "") -> str:
    """``prefix + namespace/name``, cut to VPP's tag size with a hash keeping it unique."""
    tag = f"{prefix}{namespace}/{name}"
    if len(tag.encode()) <= MAX_TAG:
        return tag
    digest = f"{zlib.crc32(tag.encode()):08x}"
    return tag.encode()[: MAX_TAG - 9].decode(errors="ignore") + "-" + digest
