"""NetworkPolicies as VPP ACLs: where each pod's permissions are enforced, and how.

``policy_rules`` says what a pod may receive and send; this module turns that into ACL values
placed where VPP v26.06 can enforce them exactly (orientation and reasons: ``docs/policies.md``):

- A pod's **ingress**, and the **egress of every local pod towards it**, are one output ACL on
  the pod's TAP. Output ACLs run after NAT44-ED, so traffic that came through a Service is
  judged on the real client and backend addresses; an input ACL would still see the
  ClusterIP. Where a local source's egress allows less than the destination's ingress, the
  table holds a block for that source (its allowed ports, then deny) before the ingress rules.
- The **egress of local pods towards everything off this node** is one node-global output ACL
  on the interfaces traffic leaves the node by (the VXLAN BVI and the host TAP).
- Replies: every interface with an output ACL gets the reflect ACL as its input ACL, so a
  connection it originates records a session there and its replies pass the output ACL.
- Traffic from and to the node itself (kubelet probes) is permitted before any other rule.

Pod tables are shared: the ACL's name is a hash of its rules, so pods with identical rule
lists use one ACL and the number of ACLs equals the number of distinct rule lists. Everything
is pure; :func:`render_policies` is the reference over all local pods, and the per-pod
functions are what the incremental controller calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import ip_address

import attrs

from contivpp import ipam
from contivpp.events import k8s
from contivpp.events.state import ClusterState
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclProtocolName, AclRule, PortRange
from contivpp.reconcile.api import Key
from contivpp.renderers import node as node_renderer
from contivpp.renderers.pods import tap_name
from contivpp.renderers.policy_rules import (
    ANY_PROTOCOL,
    TCP,
    UDP,
    PeerResolver,
    Permission,
    Permissions,
    PodRules,
    contains,
    host_network,
    pod_rules,
)

ACL_NAME_PREFIX = "policy-"
REFLECT_ACL = "policy-reflect"
NODE_GLOBAL_ACL = "policy-node-global"

PortSet = frozenset[tuple[int, int, int]]
"""(protocol, first, last) items, normalised; protocol 0 = every protocol, every port."""
ALL_PORTS: PortSet = frozenset({(ANY_PROTOCOL, 0, 65535)})
NO_PORTS: PortSet = frozenset()

_PROTOCOL_NAMES: dict[int, AclProtocolName] = {ANY_PROTOCOL: "any", TCP: "tcp", UDP: "udp"}
_REFLECT_RULES = (AclRule("reflect"), AclRule("reflect", src_network="::/0"))
_PERMIT_ALL = (AclRule("permit"), AclRule("permit", src_network="::/0"))


@attrs.frozen
class LocalPolicyPod:
    """A pod wired on this node: its VPP TAP and its Kubernetes object (``ip`` set)."""

    interface: str
    pod: k8s.Pod


@attrs.frozen
class EgressSource:
    """A local pod isolated for egress: its address and what it may send."""

    ip: str
    egress: Permissions
    index: PeerIndex = attrs.field(init=False, eq=False, repr=False)

    @index.default
    def _index(self) -> PeerIndex:
        return PeerIndex(self.egress)


@attrs.frozen
class NodePolicyContext:
    """What the renderer needs to know about this node itself."""

    #: CIDRs that are this node (VPP-host subnet, node addresses): always allowed both ways.
    node_networks: tuple[str, ...]
    #: The interfaces traffic leaves the node by; they carry the node-global table.
    uplinks: tuple[str, ...] = (node_renderer.VXLAN_BVI, node_renderer.HOST_TAP)


@attrs.frozen
class AclValues:
    """Desired values of one owner: interface bindings and the ACLs they reference.

    They are apart because ACLs are shared: two pods with the same table produce the same
    ACL key with the same value, while each binding has one owner.
    """

    bindings: dict[Key, AclInterface] = attrs.Factory(dict)
    acls: dict[Key, Acl] = attrs.Factory(dict)


@attrs.frozen
class PolicyRender:
    values: dict[Key, object]
    rules: dict[tuple[str, str], PodRules]
    #: SCTP port specifications rendered as "SCTP, any port" (VPP matches no SCTP ports).
    sctp_widened: frozenset[str]


# ---------------------------------------------------------------------------------------------
# Port sets


def _normalise(items: Iterable[tuple[int, int, int]]) -> PortSet:
    by_protocol: dict[int, list[tuple[int, int]]] = {}
    for protocol, first, last in items:
        if protocol == ANY_PROTOCOL:
            return ALL_PORTS
        by_protocol.setdefault(protocol, []).append((first, last))
    out = set()
    for protocol, ranges in by_protocol.items():
        ranges.sort()
        start, end = ranges[0]
        for first, last in ranges[1:]:
            if first <= end + 1:
                end = max(end, last)
            else:
                out.add((protocol, start, end))
                start, end = first, last
        out.add((protocol, start, end))
    return frozenset(out)


class PeerIndex:
    """Permissions by peer, so "what may go to/from this address" skips the other pods' /32s.

    Egress lists name destination pods one /32 at a time (named ports resolve per pod), so a
    scan per (source, destination) pair would cost the cluster size.
    """

    def __init__(self, perms: Permissions) -> None:
        self.hosts: dict[str, list[tuple[int, int, int]]] = {}
        self.wide: list[Permission] = []
        for p in perms:
            if p.peer.endswith(("/32", "/128")):
                self.hosts.setdefault(p.peer.rpartition("/")[0], []).append(
                    (p.protocol, p.first, p.last)
                )
            else:
                self.wide.append(p)

    def toward(self, ip: str) -> PortSet:
        """What the permissions allow with ``ip`` at the other end."""
        found = [(p.protocol, p.first, p.last) for p in self.wide if contains(p.peer, ip)]
        found.extend(self.hosts.get(host_network(ip).rpartition("/")[0], ()))
        return _normalise(found)


def intersect(a: PortSet, b: PortSet) -> PortSet:
    if a == ALL_PORTS:
        return b
    if b == ALL_PORTS:
        return a
    out = []
    for pa, fa, la in a:
        for pb, fb, lb in b:
            if pa == pb and max(fa, fb) <= min(la, lb):
                out.append((pa, max(fa, fb), min(la, lb)))
    return _normalise(out)


# ---------------------------------------------------------------------------------------------
# Rule lists


def _protocol(number: int) -> AclProtocolName | int:
    return _PROTOCOL_NAMES.get(number, number)


def _ip_order(ip: str) -> tuple[int, int]:
    addr = ip_address(ip)
    return addr.version, int(addr)


def _same_family(a: str, b: str) -> bool:
    return not a or not b or (":" in a) == (":" in b)


def pod_output_rules(
    pod_ip: str,
    ingress: Permissions | None,
    egress_sources: Sequence[EgressSource],
    node_networks: Sequence[str],
) -> tuple[AclRule, ...] | None:
    """The output ACL of a local pod's TAP, or None when it would permit everything.

    ``egress_sources`` are the local pods isolated for egress (the pod itself included, when
    it is one: traffic to itself through a Service comes back through its TAP).
    """
    blocks: list[AclRule] = []
    ingress_index = None if ingress is None else PeerIndex(ingress)
    for source in sorted(egress_sources, key=lambda s: _ip_order(s.ip)):
        allowed_in = ALL_PORTS if ingress_index is None else ingress_index.toward(source.ip)
        both = intersect(source.index.toward(pod_ip), allowed_in)
        if both == allowed_in:
            continue  # the source's egress takes nothing away from what ingress allows
        src = host_network(source.ip)
        for protocol, first, last in sorted(both):
            blocks.append(
                AclRule(
                    "permit",
                    src_network=src,
                    protocol=_protocol(protocol),
                    dst_ports=PortRange(first, last),
                )
            )
        blocks.append(AclRule("deny", src_network=src))
    if ingress is None and not blocks:
        return None
    rules = [AclRule("permit", src_network=net) for net in node_networks]
    rules.extend(blocks)
    if ingress is None:
        rules.extend(_PERMIT_ALL)
    else:
        rules.extend(
            AclRule(
                "permit",
                src_network=p.peer,
                protocol=_protocol(p.protocol),
                dst_ports=PortRange(p.first, p.last),
            )
            for p in ingress
        )
        rules.append(AclRule("deny"))  # VPP denies what no rule matches; said for the reader
    return tuple(rules)


def node_global_rules(
    egress_sources: Sequence[EgressSource], node_networks: Sequence[str]
) -> tuple[AclRule, ...] | None:
    """The output ACL of the uplinks: local pods' egress towards anything off this node."""
    if not egress_sources:
        return None
    rules = [AclRule("permit", dst_network=net) for net in node_networks]
    for source in sorted(egress_sources, key=lambda s: _ip_order(s.ip)):
        src = host_network(source.ip)
        rules.extend(
            AclRule(
                "permit",
                src_network=src,
                dst_network=p.peer,
                protocol=_protocol(p.protocol),
                dst_ports=PortRange(p.first, p.last),
            )
            for p in source.egress
            if _same_family(src, p.peer)
        )
        rules.append(AclRule("deny", src_network=src))
    rules.extend(_PERMIT_ALL)
    return tuple(rules)


def _rule_text(rule: AclRule) -> str:
    return (
        f"{rule.action} {rule.src_network or '-'} {rule.dst_network or '-'} {rule.protocol} "
        f"{rule.src_ports.first}-{rule.src_ports.last} "
        f"{rule.dst_ports.first}-{rule.dst_ports.last} "
        f"{rule.tcp_flags_mask}/{rule.tcp_flags_value}"
    )


def acl_name(rules: Sequence[AclRule]) -> str:
    """A content-addressed ACL name: equal rule lists, equal names, on every node and run."""
    text = "\n".join(_rule_text(r) for r in rules)
    return ACL_NAME_PREFIX + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------------------------------------
# Values


def render_pod_acls(interface: str, rules: tuple[AclRule, ...] | None) -> AclValues:
    """A pod's binding (its TAP: reflect on input, its table on output) and those ACLs."""
    if rules is None:
        return AclValues()
    name = acl_name(rules)
    return AclValues(
        bindings={
            keys.acl_interface(interface): AclInterface(
                interface, ingress=(REFLECT_ACL,), egress=(name,)
            )
        },
        acls={keys.acl(name): Acl(name, rules), keys.acl(REFLECT_ACL): _reflect_acl()},
    )


def render_node_acls(uplinks: Sequence[str], rules: tuple[AclRule, ...] | None) -> AclValues:
    """The node-global table and its bindings on the uplinks (reflect on their input)."""
    if rules is None:
        return AclValues()
    return AclValues(
        bindings={
            keys.acl_interface(uplink): AclInterface(
                uplink, ingress=(REFLECT_ACL,), egress=(NODE_GLOBAL_ACL,)
            )
            for uplink in uplinks
        },
        acls={
            keys.acl(NODE_GLOBAL_ACL): Acl(NODE_GLOBAL_ACL, rules),
            keys.acl(REFLECT_ACL): _reflect_acl(),
        },
    )


def _reflect_acl() -> Acl:
    return Acl(REFLECT_ACL, _REFLECT_RULES)


def egress_sources(
    local_pods: Sequence[LocalPolicyPod], rules: Mapping[tuple[str, str], PodRules]
) -> tuple[EgressSource, ...]:
    out = []
    for local in local_pods:
        egress = rules[(local.pod.namespace, local.pod.name)].egress
        if egress is not None:
            out.append(EgressSource(local.pod.ip, egress))
    return order_sources(out)


def order_sources(sources: Iterable[EgressSource]) -> tuple[EgressSource, ...]:
    """Egress sources in address order (the order their blocks take in every table)."""
    return tuple(sorted(sources, key=lambda s: _ip_order(s.ip)))


def render_policies(
    local_pods: Sequence[LocalPolicyPod],
    policies: Iterable[k8s.NetworkPolicy],
    namespaces: Mapping[str, k8s.Labels],
    pods: Iterable[k8s.Pod],
    node: NodePolicyContext,
) -> PolicyRender:
    """The whole policy part of this node's desired set, from scratch (the reference).

    ``pods`` are all pods of the cluster a peer may name; local pods are taken from
    ``local_pods`` (their addresses are this node's), whatever ``pods`` says about them.
    """
    local = sorted(
        (lp for lp in local_pods if lp.pod.ip), key=lambda lp: (lp.pod.namespace, lp.pod.name)
    )
    local_keys = {(lp.pod.namespace, lp.pod.name) for lp in local}
    everyone = [p for p in pods if (p.namespace, p.name) not in local_keys]
    resolver = PeerResolver(namespaces, [*everyone, *(lp.pod for lp in local)])
    by_namespace: dict[str, list[k8s.NetworkPolicy]] = {}
    for policy in policies:
        by_namespace.setdefault(policy.namespace, []).append(policy)
    rules = {
        (lp.pod.namespace, lp.pod.name): pod_rules(
            lp.pod, by_namespace.get(lp.pod.namespace, ()), resolver
        )
        for lp in local
    }
    values = assemble([(lp, rules[(lp.pod.namespace, lp.pod.name)]) for lp in local], node)
    widened = frozenset().union(*(r.sctp_widened for r in rules.values()))
    return PolicyRender(dict(sorted(values.items())), rules, widened)


def assemble(
    local: Sequence[tuple[LocalPolicyPod, PodRules]], node: NodePolicyContext
) -> dict[Key, object]:
    """Every ACL value of the node from each local pod's effective rules (pods with an IP,
    sorted by namespace and name): the pod tables, the node-global table and the bindings."""
    sources = egress_sources(
        [lp for lp, _ in local], {(lp.pod.namespace, lp.pod.name): r for lp, r in local}
    )
    values: dict[Key, object] = {}
    for lp, pod_rule in local:
        table = pod_output_rules(lp.pod.ip, pod_rule.ingress, sources, node.node_networks)
        part = render_pod_acls(lp.interface, table)
        values.update(part.bindings)
        values.update(part.acls)
    glob = render_node_acls(node.uplinks, node_global_rules(sources, node.node_networks))
    values.update(glob.bindings)
    values.update(glob.acls)
    return values


# ---------------------------------------------------------------------------------------------
# From the cluster state


def node_context(state: ClusterState) -> NodePolicyContext:
    """This node's own networks: its VPP-host subnet and its Kubernetes Node addresses."""
    if state.node_id is None:
        return NodePolicyContext(())
    host = str(ipam.vpp_host_subnet(state.config.ipam, state.node_id))
    mgmt = (f"{ip}/32" for ip in node_renderer.mgmt_ips(state, state.config.node_name))
    return NodePolicyContext((host, *mgmt))


def local_policy_pods(state: ClusterState) -> tuple[LocalPolicyPod, ...]:
    """Local pods with their Kubernetes objects (labels, ports) and this node's addresses."""
    objects = state.of_kind("Pod")
    out = []
    for key in sorted(state.local_pods.keys()):
        local = state.local_pods[key]
        obj = objects.get(key)
        pod = obj if isinstance(obj, k8s.Pod) else k8s.Pod(local.namespace, local.name)
        out.append(LocalPolicyPod(tap_name(local.container_id), attrs.evolve(pod, ip=local.ip)))
    return tuple(out)


def render_policies_of(state: ClusterState) -> PolicyRender:
    """:func:`render_policies` with every input taken from ``state``."""
    policies = [
        p for p in state.of_kind("NetworkPolicy").values() if isinstance(p, k8s.NetworkPolicy)
    ]
    namespaces = {
        ns.name: ns.labels
        for ns in state.of_kind("Namespace").values()
        if isinstance(ns, k8s.Namespace)
    }
    pods = [p for p in state.of_kind("Pod").values() if isinstance(p, k8s.Pod)]
    return render_policies(
        local_policy_pods(state),
        sorted(policies, key=lambda p: (p.namespace, p.name)),
        namespaces,
        pods,
        node_context(state),
    )


__all__ = [
    "ACL_NAME_PREFIX",
    "NODE_GLOBAL_ACL",
    "REFLECT_ACL",
    "AclValues",
    "EgressSource",
    "LocalPolicyPod",
    "NodePolicyContext",
    "Permission",
    "PolicyRender",
    "acl_name",
    "assemble",
    "egress_sources",
    "node_context",
    "node_global_rules",
    "pod_output_rules",
    "render_node_acls",
    "render_pod_acls",
    "render_policies",
    "render_policies_of",
]
