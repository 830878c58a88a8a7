"""An in-memory model of VPP's ACL plugin and of the paths packets take, to judge policies.

Rendered ACLs are only right if the packets VPP sees are judged right. This model follows
VPP v26.06 ``src/plugins/acl`` where it matters for policies: per interface and direction the
applied ACLs are one first-match list; no ACL on a direction permits; a list where no rule
matches denies; a ``reflect`` rule permits and records a session on that interface and
direction, and the reverse flow then passes on the same interface in the other direction (and
the same flow again in the same direction); L4 ports are only parsed for TCP and UDP (other
protocols, SCTP included, are seen with ports 0/0), and rules with protocol 0 ignore ports.

Paths: a pod's packets enter VPP on its TAP ("in": before NAT44-ED, so a Service's ClusterIP
is still the destination) and reach a local pod on that pod's TAP ("out": after NAT, real
backend); traffic between nodes leaves by the source node's VXLAN BVI and enters by the
destination node's; the host reaches pods through the host TAP. Replies take the reverse path
and the Service translation is undone on the client's node before its TAP output.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from itertools import count

import attrs

from contivpp.model.acl import Acl, AclInterface, AclRule
from contivpp.renderers.node import HOST_TAP, VXLAN_BVI

_PROTOCOLS = {"any": 0, "icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
TCP, UDP, SCTP = 6, 17, 132


@attrs.frozen
class Flow:
    src: str
    dst: str
    protocol: int
    sport: int
    dport: int

    def reversed(self) -> Flow:
        return Flow(self.dst, self.src, self.protocol, self.dport, self.sport)


def _in_network(ip: str, network: str, other: str) -> bool:
    addr = ip_address(ip)
    if not network:  # any address of the rule's family (IPv6 if the other side says so)
        family = 6 if ":" in other else 4
        return addr.version == family
    net = ip_network(network)
    return addr.version == net.version and addr in net


def rule_matches(rule: AclRule, flow: Flow) -> bool:
    if not _in_network(flow.src, rule.src_network, rule.dst_network):
        return False
    if not _in_network(flow.dst, rule.dst_network, rule.src_network):
        return False
    protocol = rule.protocol if isinstance(rule.protocol, int) else _PROTOCOLS[rule.protocol]
    if protocol == 0:
        return True
    if protocol != flow.protocol:
        return False
    # VPP parses ports for TCP and UDP only; everything else is matched with ports 0/0.
    sport, dport = (flow.sport, flow.dport) if flow.protocol in (TCP, UDP) else (0, 0)
    return (
        rule.src_ports.first <= sport <= rule.src_ports.last
        and rule.dst_ports.first <= dport <= rule.dst_ports.last
    )


class AclPlane:
    """The ACLs and bindings of one node's VPP, with its reflect sessions."""

    def __init__(self, values: Mapping[object, object]) -> None:
        self.acls = {v.name: v for v in values.values() if isinstance(v, Acl)}
        self.bindings = {v.interface: v for v in values.values() if isinstance(v, AclInterface)}
        self.sessions: set[tuple[str, str, Flow]] = set()

    def passes(self, interface: str, direction: str, flow: Flow) -> bool:
        binding = self.bindings.get(interface)
        names = () if binding is None else binding.ingress if direction == "in" else binding.egress
        if not names:
            return True
        other = "out" if direction == "in" else "in"
        if (interface, direction, flow) in self.sessions or (
            interface,
            other,
            flow.reversed(),
        ) in self.sessions:
            return True
        for name in names:
            for rule in self.acls[name].rules:
                if rule_matches(rule, flow):
                    if rule.action == "reflect":
                        self.sessions.add((interface, direction, flow))
                    return rule.action != "deny"
        return False


@attrs.frozen
class Endpoint:
    node: str
    ip: str
    interface: str  # the pod's TAP, or the host TAP for the node itself


class Dataplane:
    """Several nodes' ACL planes and the paths between their pods, hosts and Services."""

    def __init__(self, planes: Mapping[str, AclPlane]) -> None:
        self.planes = planes
        self._ports = count(40000)

    def connect(
        self,
        client: Endpoint,
        server: Endpoint,
        protocol: int,
        port: int,
        service: tuple[str, int] | None = None,
    ) -> bool:
        """Whether a request and its reply both get through (``service``: ClusterIP, port)."""
        if client == server:
            return True  # a pod's own address never leaves its netns
        sport = next(self._ports)
        real = Flow(client.ip, server.ip, protocol, sport, port)
        seen_first = (
            real if service is None else Flow(client.ip, service[0], protocol, sport, service[1])
        )
        src, dst = self.planes[client.node], self.planes[server.node]
        forward = [(src, client.interface, "in", seen_first)]
        if client.node != server.node:
            forward += [(src, VXLAN_BVI, "out", real), (dst, VXLAN_BVI, "in", real)]
        forward.append((dst, server.interface, "out", real))
        reply = [(dst, server.interface, "in", real.reversed())]
        if client.node != server.node:
            reply += [
                (dst, VXLAN_BVI, "out", real.reversed()),
                (src, VXLAN_BVI, "in", real.reversed()),
            ]
        reply.append((src, client.interface, "out", seen_first.reversed()))
        return all(plane.passes(i, d, f) for plane, i, d, f in [*forward, *reply])


def host(node: str, ip: str) -> Endpoint:
    return Endpoint(node, ip, HOST_TAP)
