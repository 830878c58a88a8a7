"""Minimal typed models of the Kubernetes objects contivpp reacts to, and their parsing.

Renderers need a small part of each object (labels, IPs, ports, selectors); keeping only that
part makes state small, comparisons cheap and replay independent of fields we ignore. Parsing
is strict about what we keep and lenient about everything else: a missing or wrong-typed field
raises :class:`~contivpp.errors.K8sObjectError` naming the object and the field, and callers
skip that one object and keep going.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Literal

import attrs

from contivpp.errors import K8sObjectError

Kind = Literal["Namespace", "Pod", "Service", "EndpointSlice", "NetworkPolicy", "Node"]
KINDS: tuple[Kind, ...] = ("Namespace", "Pod", "Service", "EndpointSlice", "NetworkPolicy", "Node")
NAMESPACED: frozenset[str] = frozenset({"Pod", "Service", "EndpointSlice", "NetworkPolicy"})

#: The label the API server puts on every namespace: its own name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

Labels = tuple[tuple[str, str], ...]
"""Labels as a sorted tuple of pairs: hashable and order-independent."""


@attrs.frozen
class ObjectRef:
    kind: Kind
    namespace: str  # "" for cluster-scoped kinds
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )


@attrs.frozen
class LabelRequirement:
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()


@attrs.frozen
class LabelSelector:
    """A Kubernetes label selector; the empty selector matches everything."""

    match_labels: Labels = ()
    match_expressions: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Labels) -> bool:
        return self.matches_map(dict(labels))

    def matches_map(self, have: Mapping[str, str]) -> bool:
        """:meth:`matches` for labels already in a mapping (one dict for many selectors)."""
        if any(have.get(k) != v for k, v in self.match_labels):
            return False
        for req in self.match_expressions:
            present = req.key in have
            if req.operator == "In" and not (present and have[req.key] in req.values):
                return False
            if req.operator == "NotIn" and present and have[req.key] in req.values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True


@attrs.frozen
class Namespace:
    name: str
    labels: Labels = ()


@attrs.frozen
class ContainerPort:
    name: str
    port: int
    protocol: str


@attrs.frozen
class Pod:
    namespace: str
    name: str
    labels: Labels = ()
    node_name: str = ""
    ip: str = ""
    host_network: bool = False
    ports: tuple[ContainerPort, ...] = ()


#: The values the API accepts for the Service fields renderers branch on; anything else is
#: refused by name (the API server validates them, so another value is a corrupt object).
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
TRAFFIC_POLICIES = ("Cluster", "Local")
SESSION_AFFINITIES = ("None", "ClientIP")
PROTOCOLS = ("TCP", "UDP", "SCTP")
IP_FAMILIES = ("IPv4", "IPv6")
#: kube-proxy's default sticky time (``sessionAffinityConfig.clientIP.timeoutSeconds``).
DEFAULT_AFFINITY_TIMEOUT = 10800


@attrs.frozen
class ServicePort:
    name: str
    protocol: str  # one of PROTOCOLS
    port: int
    target_port: int | str  # a number, or a container port name resolved per endpoint
    node_port: int = 0  # 0 = none allocated


@attrs.frozen
class Service:
    namespace: str
    name: str
    type: str = "ClusterIP"  # one of SERVICE_TYPES
    cluster_ip: str = ""  # "None" for a headless service, "" before one is allocated
    external_ips: tuple[str, ...] = ()
    lb_ingress_ips: tuple[str, ...] = ()  # status.loadBalancer.ingress[].ip
    ports: tuple[ServicePort, ...] = ()
    selector: Labels = ()
    external_traffic_policy: str = "Cluster"  # one of TRAFFIC_POLICIES
    session_affinity: str = "None"  # one of SESSION_AFFINITIES
    session_affinity_timeout: int = DEFAULT_AFFINITY_TIMEOUT
    cluster_ips: tuple[str, ...] = ()  # every family's cluster IP; [0] is cluster_ip
    ip_families: tuple[str, ...] = ()  # the order of cluster_ips; () = not given
    lb_source_ranges: tuple[str, ...] = ()  # CIDRs allowed to reach the LB IPs; () = all
    internal_traffic_policy: str = "Cluster"  # one of TRAFFIC_POLICIES
    health_check_node_port: int = 0


@attrs.frozen
class Endpoint:
    addresses: tuple[str, ...]
    # The API's conditions; nil ready and serving mean true, nil terminating means false.
    ready: bool = True
    node_name: str = ""
    target_pod: tuple[str, str] | None = None  # (namespace, name) when targetRef is a Pod
    serving: bool = True
    terminating: bool = False


@attrs.frozen
class EndpointPort:
    name: str
    port: int  # 0 when the slice leaves it unset (the API's "all ports")
    protocol: str


@attrs.frozen
class EndpointSlice:
    namespace: str
    name: str
    service_name: str
    address_type: str = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


@attrs.frozen
class IPBlock:
    cidr: str
    excepts: tuple[str, ...] = ()


@attrs.frozen
class PolicyPeer:
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@attrs.frozen
class PolicyPort:
    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None


@attrs.frozen
class PolicyRule:
    peers: tuple[PolicyPeer, ...] = ()  # empty = all sources / destinations
    ports: tuple[PolicyPort, ...] = ()  # empty = all ports


@attrs.frozen
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector = LabelSelector()
    policy_types: tuple[str, ...] = ("Ingress",)
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()


@attrs.frozen
class NodeAddress:
    type: str
    address: str


@attrs.frozen
class Node:
    name: str
    addresses: tuple[NodeAddress, ...] = ()
    pod_cidr: str = ""


K8sObject = Namespace | Pod | Service | EndpointSlice | NetworkPolicy | Node


def ref_of(obj: K8sObject) -> ObjectRef:
    kind: Kind = _KIND_OF[type(obj)]
    namespace = getattr(obj, "namespace", "")
    return ObjectRef(kind, namespace, obj.name)


# ---------------------------------------------------------------------------------------------
# Parsing


class _Reader:
    """Typed field access into one API object; errors name the object and the field path."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def fail(self, path: str, reason: str) -> K8sObjectError:
        return K8sObjectError(self.ref, path, reason)

    def obj(self, data: object, path: str, *, required: bool = False) -> Mapping[str, object]:
        if data is None and not required:
            return {}
        if not isinstance(data, Mapping):
            reason = "missing" if data is None else f"expected an object, got {_tname(data)}"
            raise self.fail(path, reason)
        return data

    def lst(self, data: object, path: str) -> list[object]:
        if data is None:
            return []
        if not isinstance(data, list):
            raise self.fail(path, f"expected a list, got {_tname(data)}")
        return data

    def text(self, data: object, path: str, *, required: bool = False, default: str = "") -> str:
        if data is None:
            if required:
                raise self.fail(path, "missing")
            return default
        if not isinstance(data, str):
            raise self.fail(path, f"expected a string, got {_tname(data)}")
        if required and not data:
            raise self.fail(path, "empty")
        return data

    def integer(self, data: object, path: str, *, required: bool = False, default: int = 0) -> int:
        if data is None:
            if required:
                raise self.fail(path, "missing")
            return default
        if not isinstance(data, int) or isinstance(data, bool):
            raise self.fail(path, f"expected an integer, got {_tname(data)}")
        return data

    def port(self, data: object, path: str) -> int:
        value = self.integer(data, path, required=True)
        if not 0 < value < 65536:
            raise self.fail(path, f"port {value} out of range 1-65535")
        return value

    def int_or_name(self, data: object, path: str) -> int | str:
        if isinstance(data, str):
            if data.isdigit():
                return self.port(int(data), path)
            return data
        return self.port(data, path)

    def boolean(self, data: object, path: str, default: bool = False) -> bool:
        if data is None:
            return default
        if not isinstance(data, bool):
            raise self.fail(path, f"expected a boolean, got {_tname(data)}")
        return data

    def choice(self, data: object, path: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(data, path, default=default)
        if value not in choices:
            raise self.fail(path, f"unknown value {value!r} (expected one of {', '.join(choices)})")
        return value

    def labels(self, data: object, path: str) -> Labels:
        mapping = self.obj(data, path)
        out = []
        for k, v in mapping.items():
            out.append((k, self.text(v, f"{path}.{k}", required=False)))
        return tuple(sorted(out))

    def strings(self, data: object, path: str) -> tuple[str, ...]:
        return tuple(
            self.text(v, f"{path}[{i}]", required=True) for i, v in enumerate(self.lst(data, path))
        )

    def selector(self, data: object, path: str) -> LabelSelector:
        mapping = self.obj(data, path)
        exprs = []
        for i, item in enumerate(
            self.lst(mapping.get("matchExpressions"), f"{path}.matchExpressions")
        ):
            ipath = f"{path}.matchExpressions[{i}]"
            expr = self.obj(item, ipath, required=True)
            op = self.text(expr.get("operator"), f"{ipath}.operator", required=True)
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise self.fail(f"{ipath}.operator", f"unknown operator {op!r}")
            values = self.strings(expr.get("values"), f"{ipath}.values")
            key = self.text(expr.get("key"), f"{ipath}.key", required=True)
            exprs.append(LabelRequirement(key, op, values))  # type: ignore[arg-type]
        return LabelSelector(
            self.labels(mapping.get("matchLabels"), f"{path}.matchLabels"), tuple(exprs)
        )


def _tname(data: object) -> str:
    return (
        {dict: "object", list: "list", str: "string", int: "integer", bool: "boolean"}.get(
            type(data), type(data).__name__
        )
        if data is not None
        else "null"
    )


def describe(raw: object) -> str:
    """A best-effort name for a raw API object, for error messages."""
    if not isinstance(raw, Mapping):
        return f"<{_tname(raw)}>"
    kind = raw.get("kind") if isinstance(raw.get("kind"), str) else "<no kind>"
    meta = raw.get("metadata")
    ns = name = ""
    if isinstance(meta, Mapping):
        ns = meta.get("namespace") if isinstance(meta.get("namespace"), str) else ""  # type: ignore[assignment]
        name = meta.get("name") if isinstance(meta.get("name"), str) else "<no name>"  # type: ignore[assignment]
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name or '<no name>'}"


def _identity(
    raw: object,
) -> tuple[_Reader, Mapping[str, object], Mapping[str, object], ObjectRef]:
    """The reader, the object, its metadata and its identity (kind, namespace, name)."""
    r = _Reader(describe(raw))
    data = r.obj(raw, "<object>", required=True)
    kind = r.text(data.get("kind"), "kind", required=True)
    if kind not in KINDS:
        raise r.fail("kind", f"unsupported kind {kind!r} (supported: {', '.join(KINDS)})")
    meta = r.obj(data.get("metadata"), "metadata", required=True)
    name = r.text(meta.get("name"), "metadata.name", required=True)
    namespace = ""
    if kind in NAMESPACED:
        namespace = r.text(meta.get("namespace"), "metadata.namespace", required=True)
    return r, data, meta, ObjectRef(kind, namespace, name)


def parse_object(raw: object) -> K8sObject:
    """Parse one Kubernetes API object (apiVersion, kind, metadata, spec, status)."""
    r, data, meta, ref = _identity(raw)
    labels = r.labels(meta.get("labels"), "metadata.labels")
    spec = r.obj(data.get("spec"), "spec")
    status = r.obj(data.get("status"), "status")
    parser = _PARSERS[ref.kind]
    return parser(r, data, ref.namespace, ref.name, labels, spec, status)


def _parse_namespace(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    return Namespace(name=name, labels=labels)


def _parse_pod(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    ports: list[ContainerPort] = []
    for ci, c in enumerate(r.lst(spec.get("containers"), "spec.containers")):
        container = r.obj(c, f"spec.containers[{ci}]", required=True)
        for pi, p in enumerate(r.lst(container.get("ports"), f"spec.containers[{ci}].ports")):
            path = f"spec.containers[{ci}].ports[{pi}]"
            port = r.obj(p, path, required=True)
            ports.append(
                ContainerPort(
                    name=r.text(port.get("name"), f"{path}.name"),
                    port=r.port(port.get("containerPort"), f"{path}.containerPort"),
                    protocol=r.text(port.get("protocol"), f"{path}.protocol", default="TCP"),
                )
            )
    return Pod(
        namespace=ns,
        name=name,
        labels=labels,
        node_name=r.text(spec.get("nodeName"), "spec.nodeName"),
        ip=r.text(status.get("podIP"), "status.podIP"),
        host_network=r.boolean(spec.get("hostNetwork"), "spec.hostNetwork"),
        ports=tuple(ports),
    )


def _parse_service(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    ports = []
    for i, p in enumerate(r.lst(spec.get("ports"), "spec.ports")):
        path = f"spec.ports[{i}]"
        port = r.obj(p, path, required=True)
        number = r.port(port.get("port"), f"{path}.port")
        target = port.get("targetPort")
        ports.append(
            ServicePort(
                name=r.text(port.get("name"), f"{path}.name"),
                protocol=r.choice(port.get("protocol"), f"{path}.protocol", PROTOCOLS, "TCP"),
                port=number,
                target_port=number
                if target is None
                else r.int_or_name(target, f"{path}.targetPort"),
                node_port=r.integer(port.get("nodePort"), f"{path}.nodePort"),
            )
        )
    lb = r.obj(status.get("loadBalancer"), "status.loadBalancer")
    ingress_ips = []
    for i, item in enumerate(r.lst(lb.get("ingress"), "status.loadBalancer.ingress")):
        entry = r.obj(item, f"status.loadBalancer.ingress[{i}]", required=True)
        ip = r.text(entry.get("ip"), f"status.loadBalancer.ingress[{i}].ip")
        if ip:
            ingress_ips.append(ip)
    affinity_cfg = r.obj(spec.get("sessionAffinityConfig"), "spec.sessionAffinityConfig")
    client_ip = r.obj(affinity_cfg.get("clientIP"), "spec.sessionAffinityConfig.clientIP")
    families = r.strings(spec.get("ipFamilies"), "spec.ipFamilies")
    for i, family in enumerate(families):
        r.choice(family, f"spec.ipFamilies[{i}]", IP_FAMILIES, "")
    return Service(
        namespace=ns,
        name=name,
        type=r.choice(spec.get("type"), "spec.type", SERVICE_TYPES, "ClusterIP"),
        cluster_ip=r.text(spec.get("clusterIP"), "spec.clusterIP"),
        cluster_ips=r.strings(spec.get("clusterIPs"), "spec.clusterIPs"),
        ip_families=families,
        external_ips=r.strings(spec.get("externalIPs"), "spec.externalIPs"),
        lb_ingress_ips=tuple(ingress_ips),
        lb_source_ranges=r.strings(
            spec.get("loadBalancerSourceRanges"), "spec.loadBalancerSourceRanges"
        ),
        ports=tuple(ports),
        selector=r.labels(spec.get("selector"), "spec.selector"),
        external_traffic_policy=r.choice(
            spec.get("externalTrafficPolicy"),
            "spec.externalTrafficPolicy",
            TRAFFIC_POLICIES,
            "Cluster",
        ),
        internal_traffic_policy=r.choice(
            spec.get("internalTrafficPolicy"),
            "spec.internalTrafficPolicy",
            TRAFFIC_POLICIES,
            "Cluster",
        ),
        health_check_node_port=r.integer(
            spec.get("healthCheckNodePort"), "spec.healthCheckNodePort"
        ),
        session_affinity=r.choice(
            spec.get("sessionAffinity"), "spec.sessionAffinity", SESSION_AFFINITIES, "None"
        ),
        session_affinity_timeout=r.integer(
            client_ip.get("timeoutSeconds"),
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            default=DEFAULT_AFFINITY_TIMEOUT,
        ),
    )


def _parse_endpoint_slice(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    service = dict(labels).get("kubernetes.io/service-name", "")
    endpoints = []
    for i, e in enumerate(r.lst(data.get("endpoints"), "endpoints")):
        path = f"endpoints[{i}]"
        ep = r.obj(e, path, required=True)
        cond = r.obj(ep.get("conditions"), f"{path}.conditions")
        ref = r.obj(ep.get("targetRef"), f"{path}.targetRef")
        target = None
        if ref and r.text(ref.get("kind"), f"{path}.targetRef.kind") == "Pod":
            target = (
                r.text(ref.get("namespace"), f"{path}.targetRef.namespace", default=ns),
                r.text(ref.get("name"), f"{path}.targetRef.name", required=True),
            )
        cpath = f"{path}.conditions"
        endpoints.append(
            Endpoint(
                addresses=r.strings(ep.get("addresses"), f"{path}.addresses"),
                # The API: a nil "ready" or "serving" means true, a nil "terminating" false.
                ready=r.boolean(cond.get("ready"), f"{cpath}.ready", default=True),
                serving=r.boolean(cond.get("serving"), f"{cpath}.serving", default=True),
                terminating=r.boolean(cond.get("terminating"), f"{cpath}.terminating"),
                node_name=r.text(ep.get("nodeName"), f"{path}.nodeName"),
                target_pod=target,
            )
        )
    ports = []
    for i, p in enumerate(r.lst(data.get("ports"), "ports")):
        path = f"ports[{i}]"
        port = r.obj(p, path, required=True)
        number = port.get("port")
        ports.append(
            EndpointPort(
                name=r.text(port.get("name"), f"{path}.name"),
                port=0 if number is None else r.port(number, f"{path}.port"),
                protocol=r.text(port.get("protocol"), f"{path}.protocol", default="TCP"),
            )
        )
    return EndpointSlice(
        namespace=ns,
        name=name,
        service_name=service,
        address_type=r.text(data.get("addressType"), "addressType", default="IPv4"),
        endpoints=tuple(endpoints),
        ports=tuple(ports),
    )


def _network(r: _Reader, data: object, path: str) -> IPv4Network | IPv6Network:
    text = r.text(data, path, required=True)
    try:
        # The API accepts host bits (10.0.0.7/8); the network is what a rule means.
        return ip_network(text, strict=False)
    except ValueError:
        raise r.fail(path, f"{text!r} is not a CIDR") from None


def _parse_ip_block(r: _Reader, raw: object, path: str) -> IPBlock:
    b = r.obj(raw, path)
    cidr = _network(r, b.get("cidr"), f"{path}.cidr")
    excepts = []
    for i, item in enumerate(r.lst(b.get("except"), f"{path}.except")):
        epath = f"{path}.except[{i}]"
        ex = _network(r, item, epath)
        # The API requires every except to be a strict subset of the cidr.
        if ex.version != cidr.version or ex == cidr or not ex.subnet_of(cidr):  # type: ignore[arg-type]
            raise r.fail(epath, f"{ex} is not inside cidr {cidr}")
        excepts.append(str(ex))
    return IPBlock(cidr=str(cidr), excepts=tuple(excepts))


def _parse_peer(r: _Reader, raw: object, path: str) -> PolicyPeer:
    peer = r.obj(raw, path, required=True)
    pods = peer.get("podSelector")
    nss = peer.get("namespaceSelector")
    block = None
    if peer.get("ipBlock") is not None:
        if pods is not None or nss is not None:
            raise r.fail(path, "ipBlock cannot be combined with podSelector or namespaceSelector")
        block = _parse_ip_block(r, peer.get("ipBlock"), f"{path}.ipBlock")
    elif pods is None and nss is None:
        raise r.fail(path, "a peer needs podSelector, namespaceSelector or ipBlock")
    return PolicyPeer(
        pod_selector=None if pods is None else r.selector(pods, f"{path}.podSelector"),
        namespace_selector=None if nss is None else r.selector(nss, f"{path}.namespaceSelector"),
        ip_block=block,
    )


#: An IANA service name, as the API validates a named port: lowercase letters, digits and
#: '-', at least one letter, no leading/trailing or double '-'.
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*(?<!-)$")


def _parse_policy_port(r: _Reader, raw: object, path: str) -> PolicyPort:
    port = r.obj(raw, path, required=True)
    protocol = r.text(port.get("protocol"), f"{path}.protocol", default="TCP")
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise r.fail(f"{path}.protocol", f"unsupported protocol {protocol!r} (TCP, UDP or SCTP)")
    value = port.get("port")
    number = None if value is None else r.int_or_name(value, f"{path}.port")
    if isinstance(number, str) and not (len(number) <= 15 and _PORT_NAME.match(number)):
        raise r.fail(
            f"{path}.port",
            f"{number!r} is not a port name (1-15 lowercase letters, digits and '-')",
        )
    end = None
    if port.get("endPort") is not None:
        end = r.port(port.get("endPort"), f"{path}.endPort")
        if not isinstance(number, int):
            raise r.fail(f"{path}.endPort", "endPort needs a numeric port")
        if end < number:
            raise r.fail(f"{path}.endPort", f"endPort {end} is below port {number}")
    return PolicyPort(protocol=protocol, port=number, end_port=end)


def _parse_rules(r: _Reader, raw: object, path: str, peers_field: str) -> tuple[PolicyRule, ...]:
    rules = []
    for i, item in enumerate(r.lst(raw, path)):
        rpath = f"{path}[{i}]"
        rule = r.obj(item, rpath, required=True)
        peers = tuple(
            _parse_peer(r, p, f"{rpath}.{peers_field}[{j}]")
            for j, p in enumerate(r.lst(rule.get(peers_field), f"{rpath}.{peers_field}"))
        )
        ports = [
            _parse_policy_port(r, p, f"{rpath}.ports[{j}]")
            for j, p in enumerate(r.lst(rule.get("ports"), f"{rpath}.ports"))
        ]
        rules.append(PolicyRule(peers=peers, ports=tuple(ports)))
    return tuple(rules)


def _parse_policy(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    ingress = _parse_rules(r, spec.get("ingress"), "spec.ingress", "from")
    egress = _parse_rules(r, spec.get("egress"), "spec.egress", "to")
    types = r.strings(spec.get("policyTypes"), "spec.policyTypes")
    for t in types:
        if t not in ("Ingress", "Egress"):
            raise r.fail("spec.policyTypes", f"unknown policy type {t!r}")
    if not types:
        # The API's defaulting: Ingress always, Egress when egress rules are present.
        types = ("Ingress", "Egress") if egress else ("Ingress",)
    return NetworkPolicy(
        namespace=ns,
        name=name,
        pod_selector=r.selector(spec.get("podSelector"), "spec.podSelector"),
        policy_types=tuple(sorted(set(types))),
        ingress=ingress,
        egress=egress,
    )


def _parse_node(
    r: _Reader,
    data: Mapping[str, object],
    ns: str,
    name: str,
    labels: Labels,
    spec: Mapping[str, object],
    status: Mapping[str, object],
) -> K8sObject:
    addresses = []
    for i, a in enumerate(r.lst(status.get("addresses"), "status.addresses")):
        path = f"status.addresses[{i}]"
        addr = r.obj(a, path, required=True)
        addresses.append(
            NodeAddress(
                type=r.text(addr.get("type"), f"{path}.type", required=True),
                address=r.text(addr.get("address"), f"{path}.address", required=True),
            )
        )
    return Node(
        name=name,
        addresses=tuple(addresses),
        pod_cidr=r.text(spec.get("podCIDR"), "spec.podCIDR"),
    )


_PARSERS = {
    "Namespace": _parse_namespace,
    "Pod": _parse_pod,
    "Service": _parse_service,
    "EndpointSlice": _parse_endpoint_slice,
    "NetworkPolicy": _parse_policy,
    "Node": _parse_node,
}

_KIND_OF: dict[type, Kind] = {
    Namespace: "Namespace",
    Pod: "Pod",
    Service: "Service",
    EndpointSlice: "EndpointSlice",
    NetworkPolicy: "NetworkPolicy",
    Node: "Node",
}


def parse_ref(raw: object) -> ObjectRef:
    """Parse just the identity of an object (enough for a delete)."""
    return _identity(raw)[3]
