"""Kubernetes NetworkPolicy semantics, reduced to one pod's permissions per direction.

The ACL renderer (``policies.py``) must not re-derive selector logic, so this module answers
one question exactly as the Kubernetes API reference and the upstream e2e suite
(``test/e2e/network/netpol``) specify: what may this pod receive, and what may it send? The
answer is a canonical, sorted tuple of :class:`Permission` per direction, or ``None`` when no
policy isolates that direction. Everything here is pure and takes its inputs explicitly (the
pod, the policies, the namespaces' labels, the pods a peer can name), so the incremental
controller can call it for one pod and the reference render for all of them.

Points of the specification and where they are implemented:

- isolation per direction, ``policyTypes`` defaulting (in ``k8s._parse_policy``):
  :func:`pod_rules`;
- rules ORed, peers ORed, ports ORed: unions in :func:`_rule_permissions`;
- podSelector AND namespaceSelector in one peer, podSelector alone = the policy's namespace,
  namespaceSelector alone = every matching namespace (kube-system included), empty selector =
  all: :meth:`PeerResolver.pods_of`;
- ipBlock with except, matching any address including pods': :func:`block_networks`;
- ports: TCP/UDP/SCTP, numeric, named (resolved against the *destination* pod's container
  ports, per destination pod, in both directions), endPort ranges: :func:`_port_ranges`.
  VPP cannot match SCTP ports (see ``docs/policies.md``), so an SCTP port becomes "SCTP, any
  port" here already, and is counted in :attr:`PodRules.sctp_widened`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

import attrs

from contivpp.events import k8s

TCP, UDP, SCTP = 6, 17, 132
ANY_PROTOCOL = 0
PROTOCOLS = {"TCP": TCP, "UDP": UDP, "SCTP": SCTP}
#: The label the API server puts on every namespace (immutable, equal to its name).
NAMESPACE_NAME_LABEL = k8s.NAMESPACE_NAME_LABEL

Network = IPv4Network | IPv6Network


@attrs.frozen(order=True)
class Permission:
    """One allowed (other end, protocol, destination ports) for one pod and direction.

    ``peer`` is the other end's CIDR: the source for ingress, the destination for egress;
    "" means any address. ``protocol`` 0 means every IP protocol (ports then span 0-65535).
    """

    peer: str
    protocol: int = ANY_PROTOCOL
    first: int = 0
    last: int = 65535


Permissions = tuple[Permission, ...]
"""Sorted and free of duplicates: equal permission sets are equal tuples."""


@attrs.frozen
class PodRules:
    """A pod's effective permissions; ``None`` = that direction is not isolated."""

    ingress: Permissions | None = None
    egress: Permissions | None = None
    #: The SCTP port specifications (``ns/policy ingress[i].ports[j]``) that had to become
    #: "SCTP, any port".
    sctp_widened: frozenset[str] = frozenset()


@lru_cache(maxsize=65536)
def network(cidr: str) -> Network:
    return ip_network(cidr, strict=False)


@lru_cache(maxsize=65536)
def host_network(ip: str) -> str:
    """The /32 (/128) of a pod address."""
    addr = ip_address(ip)
    return f"{addr}/{addr.max_prefixlen}"


@lru_cache(maxsize=4096)
def block_networks(block: k8s.IPBlock) -> tuple[str, ...]:
    """The CIDRs an ipBlock covers: its cidr minus every except, as disjoint networks.

    Subtracting (instead of a deny rule before a permit) keeps every rendered rule a permit,
    so rules of different policies can be merged and reordered without changing meaning.
    """
    nets: list[Network] = [network(block.cidr)]
    for text in block.excepts:
        ex = network(text)
        out: list[Network] = []
        for net in nets:
            if net.version != ex.version or not net.overlaps(ex):
                out.append(net)
            elif not net.subnet_of(ex):  # type: ignore[arg-type]
                out.extend(net.address_exclude(ex))  # type: ignore[arg-type]
        nets = out
    return tuple(str(n) for n in sorted(nets, key=lambda n: (n.version, n)))


def in_block(ip: str, block: k8s.IPBlock) -> bool:
    return any(contains(cidr, ip) for cidr in block_networks(block))


@lru_cache(maxsize=65536)
def _span(cidr: str) -> tuple[int, int, int]:
    net = network(cidr)
    return net.version, int(net.network_address), int(net.broadcast_address)


@lru_cache(maxsize=65536)
def _address(ip: str) -> tuple[int, int]:
    addr = ip_address(ip)
    return addr.version, int(addr)


def contains(peer: str, ip: str) -> bool:
    """Whether a permission's peer ("" = any) covers an address."""
    if not peer:
        return True
    # Integers, not ipaddress objects: this runs for every (rule, source pod) pair.
    version, low, high = _span(peer)
    addr_version, addr = _address(ip)
    return version == addr_version and low <= addr <= high


def namespace_labels(namespaces: Mapping[str, k8s.Labels], name: str) -> k8s.Labels:
    """A namespace's labels plus the name label the API server guarantees on each one."""
    labels = dict(namespaces.get(name, ()))
    labels[NAMESPACE_NAME_LABEL] = name
    return tuple(sorted(labels.items()))


def policed(pod: k8s.Pod) -> bool:
    """hostNetwork pods share the node's addresses: they are neither policed nor peers."""
    return bool(pod.ip) and not pod.host_network


class PeerResolver:
    """Which pods a policy peer names, memoised for one render over immutable inputs."""

    def __init__(self, namespaces: Mapping[str, k8s.Labels], pods: Iterable[k8s.Pod]) -> None:
        self._namespaces = namespaces
        self.pods: tuple[k8s.Pod, ...] = tuple(
            sorted((p for p in pods if policed(p)), key=lambda p: (p.namespace, p.name))
        )
        self._by_namespace: dict[str, list[k8s.Pod]] = {}
        for pod in self.pods:
            self._by_namespace.setdefault(pod.namespace, []).append(pod)
        self._memo: dict[tuple[str, k8s.PolicyPeer], tuple[k8s.Pod, ...]] = {}
        self._ns_labels: dict[str, k8s.Labels] = {}
        #: Permissions of one rule, by what they depend on: pods selected by the same policies
        #: share them (a rule's peers and ports are the same for each of them).
        self.permissions: dict[tuple[object, ...], frozenset[Permission]] = {}

    def namespace_labels(self, name: str) -> k8s.Labels:
        labels = self._ns_labels.get(name)
        if labels is None:
            labels = self._ns_labels[name] = namespace_labels(self._namespaces, name)
        return labels

    def pods_of(self, policy_namespace: str, peer: k8s.PolicyPeer) -> tuple[k8s.Pod, ...]:
        """The pods a selector peer names (an ipBlock peer names addresses, not pods)."""
        key = (policy_namespace, peer)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = tuple(self._select(policy_namespace, peer))
        return found

    def _select(self, policy_namespace: str, peer: k8s.PolicyPeer) -> Iterable[k8s.Pod]:
        if peer.ip_block is not None:
            return ()
        if peer.namespace_selector is None:
            namespaces = [policy_namespace]
        else:
            # Namespaces first: one selector test per namespace, not one per pod.
            selector = peer.namespace_selector
            namespaces = [
                ns for ns in self._by_namespace if selector.matches(self.namespace_labels(ns))
            ]
        pods = (p for ns in namespaces for p in self._by_namespace.get(ns, ()))
        if peer.pod_selector is None:
            return pods
        return (p for p in pods if peer.pod_selector.matches(p.labels))


def names_pod(
    resolver: PeerResolver, policy_namespace: str, peer: k8s.PolicyPeer, pod: k8s.Pod
) -> bool:
    """Whether a selector peer of a policy in ``policy_namespace`` names ``pod`` (one pod's
    answer to what :meth:`PeerResolver.pods_of` answers for all)."""
    if peer.ip_block is not None:
        return False
    if peer.namespace_selector is None:
        if pod.namespace != policy_namespace:
            return False
    elif not peer.namespace_selector.matches(resolver.namespace_labels(pod.namespace)):
        return False
    return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)


def selects(policy: k8s.NetworkPolicy, pod: k8s.Pod) -> bool:
    return pod.namespace == policy.namespace and policy.pod_selector.matches(pod.labels)


def _named_port(pod: k8s.Pod, name: str, protocol: str) -> int | None:
    for port in pod.ports:
        if port.name == name and port.protocol == protocol:
            return port.port
    return None


class _Ports:
    """Port specs of one rule."""

    def __init__(self, ports: Sequence[k8s.PolicyPort]) -> None:
        self.specs = ports

    def ranges(self, destination: k8s.Pod | None) -> list[tuple[int, int, int]]:
        """(protocol, first, last) triples; named ports resolve against ``destination``
        (None: a destination that is no pod, where a named port matches nothing)."""
        if not self.specs:
            return [(ANY_PROTOCOL, 0, 65535)]
        out = []
        for spec in self.specs:
            protocol = PROTOCOLS[spec.protocol]
            if spec.port is None:
                out.append((protocol, 0, 65535))
                continue
            if isinstance(spec.port, str):
                number = (
                    None
                    if destination is None
                    else _named_port(destination, spec.port, spec.protocol)
                )
                if number is None:
                    continue
                first = last = number
            else:
                first, last = spec.port, spec.end_port or spec.port
            if protocol == SCTP:
                # VPP's ACL plugin sees SCTP ports as 0/0: only "any port" can match.
                first, last = 0, 65535
            out.append((protocol, first, last))
        return out

    @property
    def named(self) -> bool:
        return any(isinstance(spec.port, str) for spec in self.specs)


def _rule_permissions(
    rule: k8s.PolicyRule,
    policy_namespace: str,
    pod: k8s.Pod,
    ingress: bool,
    resolver: PeerResolver,
) -> set[Permission]:
    ports = _Ports(rule.ports)
    perms: set[Permission] = set()

    def add(peer: str, destination: k8s.Pod | None) -> None:
        for protocol, first, last in ports.ranges(destination):
            perms.add(Permission(peer, protocol, first, last))

    if ingress or not ports.named:
        # The destination is ``pod`` itself (ingress), or no port needs a destination pod.
        destination = pod if ingress else None
        if not rule.peers:
            add("", destination)
        for peer in rule.peers:
            if peer.ip_block is not None:
                for cidr in block_networks(peer.ip_block):
                    add(cidr, destination)
            else:
                for other in resolver.pods_of(policy_namespace, peer):
                    add(host_network(other.ip), destination)
        return perms
    # Egress with named ports: each destination pod resolves the names against its own
    # container ports, so destinations are enumerated pod by pod. Numeric ports still go
    # to whole networks (an ipBlock also covers addresses that are no pod).
    numeric = _Ports([p for p in rule.ports if not isinstance(p.port, str)])
    named = _Ports([p for p in rule.ports if isinstance(p.port, str)])

    def add_pod(other: k8s.Pod) -> None:
        for protocol, first, last in named.ranges(other):
            perms.add(Permission(host_network(other.ip), protocol, first, last))

    def add_network(cidr: str) -> None:
        if numeric.specs:
            for protocol, first, last in numeric.ranges(None):
                perms.add(Permission(cidr, protocol, first, last))

    if not rule.peers:
        add_network("")
        for other in resolver.pods:
            add_pod(other)
    for peer in rule.peers:
        if peer.ip_block is not None:
            for cidr in block_networks(peer.ip_block):
                add_network(cidr)
            for other in resolver.pods:
                if in_block(other.ip, peer.ip_block):
                    add_pod(other)
        else:
            for other in resolver.pods_of(policy_namespace, peer):
                add_network(host_network(other.ip))
                add_pod(other)
    return perms


def canonical(perms: Iterable[Permission]) -> Permissions:
    """Sorted, with overlapping or adjacent port ranges of one peer and protocol merged, and
    everything of a peer dropped when that peer is allowed every protocol."""
    by_key: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for p in perms:
        by_key.setdefault((p.peer, p.protocol), []).append((p.first, p.last))
    out: list[Permission] = []
    for (peer, protocol), ranges in by_key.items():
        if protocol != ANY_PROTOCOL and (peer, ANY_PROTOCOL) in by_key:
            continue
        ranges.sort()
        merged = [list(ranges[0])]
        for first, last in ranges[1:]:
            if first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        out.extend(Permission(peer, protocol, a, b) for a, b in merged)
    return tuple(sorted(out, key=_order))


def _order(p: Permission) -> tuple[int, str, int, int, int]:
    # IPv4 before IPv6, then by text: stable, and independent of the order policies came in.
    return (1 if ":" in p.peer else 0, p.peer, p.protocol, p.first, p.last)


def pod_rules(
    pod: k8s.Pod, policies: Iterable[k8s.NetworkPolicy], resolver: PeerResolver
) -> PodRules:
    """The effective ingress and egress permissions of one pod (``pod.ip`` must be set).

    ``policies`` may be all policies of the cluster or any superset of those selecting the
    pod; ``resolver`` knows the namespaces' labels and every pod a peer may name.
    """
    if not policed(pod):
        return PodRules()
    isolated = {"Ingress": False, "Egress": False}
    found: dict[str, set[Permission]] = {"Ingress": set(), "Egress": set()}
    widened: set[str] = set()
    for policy in policies:
        if not selects(policy, pod):
            continue
        for direction, rules in (("Ingress", policy.ingress), ("Egress", policy.egress)):
            if direction not in policy.policy_types:
                continue  # rules of a direction the policy does not isolate are ignored
            isolated[direction] = True
            for i, rule in enumerate(rules):
                ingress = direction == "Ingress"
                # Ingress named ports resolve against the pod itself; nothing else of it counts.
                own = (
                    pod.ports
                    if ingress and any(isinstance(p.port, str) for p in rule.ports)
                    else None
                )
                memo = (rule, policy.namespace, ingress, own)
                perms = resolver.permissions.get(memo)
                if perms is None:
                    perms = frozenset(
                        _rule_permissions(rule, policy.namespace, pod, ingress, resolver)
                    )
                    resolver.permissions[memo] = perms
                found[direction] |= perms
                widened.update(
                    f"{policy.namespace}/{policy.name} {direction.lower()}[{i}].ports[{j}]"
                    for j, spec in enumerate(rule.ports)
                    if spec.protocol == "SCTP" and spec.port is not None
                )
    return PodRules(
        ingress=canonical(found["Ingress"]) if isolated["Ingress"] else None,
        egress=canonical(found["Egress"]) if isolated["Egress"] else None,
        sctp_widened=frozenset(widened),
    )


# ---------------------------------------------------------------------------------------------
# Which pods does a change touch (simple scans; the controller keeps indices)


def pods_selected_by(
    policy: k8s.NetworkPolicy, pods: Iterable[k8s.Pod]
) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the pods a policy applies to, sorted."""
    return tuple(sorted((p.namespace, p.name) for p in pods if policed(p) and selects(policy, p)))


def policies_selecting(
    pod: k8s.Pod, policies: Iterable[k8s.NetworkPolicy]
) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the policies that apply to ``pod``, sorted."""
    return tuple(sorted((p.namespace, p.name) for p in policies if selects(p, pod)))


def policies_naming(
    pod: k8s.Pod,
    policies: Iterable[k8s.NetworkPolicy],
    namespaces: Mapping[str, k8s.Labels],
) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the policies whose rules depend on ``pod`` as the other end.

    That is: a selector peer names it, or an egress rule with a named port can reach it (the
    name resolves against its container ports). ipBlocks with numeric ports depend on
    addresses only, not on which pod holds them, and are not listed.
    """
    resolver = PeerResolver(namespaces, ())
    out: list[tuple[str, str]] = []
    for policy in policies:
        if _names(policy, pod, resolver):
            out.append((policy.namespace, policy.name))
    return tuple(sorted(out))


def _names(policy: k8s.NetworkPolicy, pod: k8s.Pod, resolver: PeerResolver) -> bool:
    if not policed(pod):
        return False
    for ingress, rules in ((True, policy.ingress), (False, policy.egress)):
        for rule in rules:
            named = not ingress and any(isinstance(p.port, str) for p in rule.ports)
            if named and not rule.peers:
                return True
            for peer in rule.peers:
                if peer.ip_block is not None:
                    if named and in_block(pod.ip, peer.ip_block):
                        return True
                elif names_pod(resolver, policy.namespace, peer, pod):
                    return True
    return False
