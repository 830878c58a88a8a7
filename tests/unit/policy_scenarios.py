"""NetworkPolicy scenarios after the upstream e2e suite (netpol), and the world they run in.

Namespaces x/y/z with pods a/b/c each (labels ``ns=<name>`` / ``pod=<name>``, container ports
named ``serve-<port>-<proto>`` like upstream's agnhost servers). A scenario applies policies
written from the Kubernetes documentation and the e2e suite, and checks truth tables: every
ordered pair of pods probed on the protocols and ports it names. The expected tables are
built the way upstream builds them (start all-allowed, then ``expect_all_ingress`` /
``expect_peer`` / ...), from the scenario's statement, never from the code under test.
Loopback (a pod to itself) is left out, as upstream does.

Who answers a probe is the cluster's :class:`Judge`: the forwarding model over simulators
programmed with the rendered config (``policy_model.ModelJudge``, the unit truth tables), or
real sockets in the pods' network namespaces on a running agent, checked against the model
on the same VPP (``tests/integration/dataplane/test_policy_traffic.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from contivpp.dataplane import TCP, UDP
from contivpp.events import k8s

SCTP = 132
NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
PROTO_NAMES = {TCP: "TCP", UDP: "UDP", SCTP: "SCTP"}

Probe = tuple[int, int]  # (protocol, port)


class Judge(Protocol):
    """Answers the probes of a cluster's checks."""

    def sync(self, c: Cluster) -> object:
        """Make the nodes hold the cluster as it is now (before a check's probes)."""

    def verdicts(
        self, c: Cluster, pairs: list[tuple[str, str]], protocol: int, port: int
    ) -> dict[tuple[str, str], bool]:
        """For each (from, to) pair of pods: whether ``from`` connects to ``to`` (through its
        Service when the cluster is ``via_service``) on ``protocol``/``port``: the request
        and its reply arrive."""

    def host_verdicts(
        self, c: Cluster, pods: list[str], protocol: int, port: int
    ) -> dict[str, tuple[bool, bool]]:
        """For each pod: (its node connects to it, it connects to its node)."""


class Reach:
    """An expected truth table, built like upstream's ``Reachability``."""

    def __init__(self, pods: Iterable[str], default: bool = True) -> None:
        self.pods = tuple(pods)
        self.table = {(f, t): default for f in self.pods for t in self.pods if f != t}

    def expect(self, frm: str, to: str, allowed: bool) -> Reach:
        self.table[(frm, to)] = allowed
        return self

    def expect_peer(
        self,
        allowed: bool,
        frm_ns: str | None = None,
        frm_pod: str | None = None,
        to_ns: str | None = None,
        to_pod: str | None = None,
    ) -> Reach:
        for f, t in self.table:
            fns, fpod = f.split("/")
            tns, tpod = t.split("/")
            if (
                frm_ns in (None, fns)
                and frm_pod in (None, fpod)
                and to_ns in (None, tns)
                and to_pod in (None, tpod)
            ):
                self.table[(f, t)] = allowed
        return self

    def expect_all_ingress(self, pod: str, allowed: bool) -> Reach:
        ns, name = pod.split("/")
        return self.expect_peer(allowed, to_ns=ns, to_pod=name)

    def expect_all_egress(self, pod: str, allowed: bool) -> Reach:
        ns, name = pod.split("/")
        return self.expect_peer(allowed, frm_ns=ns, frm_pod=name)


def _upstream_ports() -> tuple[k8s.ContainerPort, ...]:
    return tuple(
        k8s.ContainerPort(f"serve-{port}-{proto.lower()}", port, proto)
        for port in (80, 81)
        for proto in ("TCP", "UDP", "SCTP")
    )


def default_ip(node: str, index: int) -> str:
    """A pod's address: the ``index``-th pod of ``node`` (node-N has the pod subnet 10.1.N.0/24)."""
    return f"10.1.{node[-1]}.{index + 10}"


@attrs.define
class Cluster:
    """The scenario's world: namespaces, pods on nodes, policies; probed through ``judge``.

    ``addresses`` gives a pod its IP (pod key, node, index of the pod on its node): by
    default :func:`default_ip`; a real node passes the addresses its IPAM gave."""

    two_nodes: bool
    via_service: bool
    judge: Judge
    addresses: Callable[[str, str, int], str] = lambda _pod, node, index: default_ip(node, index)
    namespaces: dict[str, k8s.Labels] = attrs.Factory(dict)
    pods: dict[str, k8s.Pod] = attrs.Factory(dict)
    nodes: dict[str, str] = attrs.Factory(dict)
    policies: dict[tuple[str, str], k8s.NetworkPolicy] = attrs.Factory(dict)
    #: The policies as applied (API objects), for judges that write them as the KSR does.
    raw_policies: dict[tuple[str, str], dict[str, Any]] = attrs.Factory(dict)
    checks: int = 0

    def add_namespace(self, name: str, **labels: str) -> None:
        self.namespaces[name] = tuple(sorted({"ns": name, **labels}.items()))

    def add_pod(self, ns: str, name: str, node: str) -> None:
        index = len([p for p, n in self.nodes.items() if n == node])
        key = f"{ns}/{name}"
        self.pods[key] = k8s.Pod(
            ns,
            name,
            labels=(("pod", name),),
            node_name=node,
            ip=self.addresses(key, node, index),
            ports=_upstream_ports(),
        )
        self.nodes[key] = node

    def ip(self, pod: str) -> str:
        return self.pods[pod].ip

    def label_namespace(self, name: str, **labels: str) -> None:
        self.add_namespace(name, **labels)

    def label_pod(self, pod: str, **labels: str) -> None:
        self.pods[pod] = attrs.evolve(
            self.pods[pod], labels=tuple(sorted({**dict(self.pods[pod].labels), **labels}.items()))
        )

    def add_ports(self, pod: str, *ports: tuple[str, int, str]) -> None:
        extra = tuple(k8s.ContainerPort(n, p, proto) for n, p, proto in ports)
        self.pods[pod] = attrs.evolve(self.pods[pod], ports=self.pods[pod].ports + extra)

    def apply(self, raw: dict[str, Any]) -> None:
        policy = k8s.parse_object(raw)
        assert isinstance(policy, k8s.NetworkPolicy)
        self.policies[(policy.namespace, policy.name)] = policy
        self.raw_policies[(policy.namespace, policy.name)] = raw

    def delete(self, ns: str, name: str) -> None:
        del self.policies[(ns, name)]
        del self.raw_policies[(ns, name)]

    def check(self, reach: Reach, *probes: Probe) -> None:
        self.judge.sync(self)
        for protocol, port in probes or ((TCP, 80),):
            pairs = sorted(reach.table)
            got = self.judge.verdicts(self, pairs, protocol, port)
            wrong = [
                f"{frm} -> {to}: expected {reach.table[(frm, to)]}, got {got[(frm, to)]}"
                for frm, to in pairs
                if got[(frm, to)] != reach.table[(frm, to)]
            ]
            assert not wrong, f"{PROTO_NAMES[protocol]}/{port}:\n" + "\n".join(wrong)
            # The node itself reaches every pod and is reached by them, whatever the policies.
            hosts = self.judge.host_verdicts(self, list(reach.pods), protocol, port)
            assert all(v == (True, True) for v in hosts.values()), hosts
        self.checks += 1


def make_cluster(
    two_nodes: bool,
    via_service: bool,
    judge: Judge,
    addresses: Callable[[str, str, int], str] | None = None,
) -> Cluster:
    c = Cluster(two_nodes, via_service, judge)
    if addresses is not None:
        c.addresses = addresses
    for ns in NAMESPACES:
        c.add_namespace(ns)
        for name in POD_NAMES:
            # Two nodes: x/* and y/a on node-1, the rest on node-2.
            on_first = not two_nodes or ns == "x" or (ns, name) == ("y", "a")
            c.add_pod(ns, name, "node-1" if on_first else "node-2")
    return c


def all_pods(c: Cluster) -> Reach:
    return Reach(sorted(c.pods))


# ---------------------------------------------------------------------------------------------
# Policy builders (raw API objects, parsed like the KSR's)


def pol(
    ns: str,
    name: str,
    select: dict[str, str] | None = None,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    types: list[str] | None = None,
    select_expr: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if select:
        selector["matchLabels"] = select
    if select_expr:
        selector["matchExpressions"] = select_expr
    spec: dict[str, Any] = {"podSelector": selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def pods_sel(**labels: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": labels}}


def ns_sel(**labels: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": labels}}


def block(cidr: str, *excepts: str) -> dict[str, Any]:
    return {"ipBlock": {"cidr": cidr, "except": list(excepts)}}


# ---------------------------------------------------------------------------------------------
# Scenarios

Scenario = Callable[[Cluster], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def default_deny_ingress(c: Cluster) -> None:
    c.apply(pol("x", "deny-ingress", ingress=[]))
    c.check(all_pods(c).expect_peer(False, to_ns="x"), (TCP, 80), (UDP, 81), (SCTP, 80))


@scenario
def default_deny_all(c: Cluster) -> None:
    c.apply(pol("x", "deny-all", ingress=[], egress=[], types=["Ingress", "Egress"]))
    c.check(
        all_pods(c).expect_peer(False, to_ns="x").expect_peer(False, frm_ns="x"),
        (TCP, 80),
        (UDP, 80),
    )


@scenario
def allow_from_pod_in_own_namespace(c: Cluster) -> None:
    c.apply(pol("x", "x-a-allows-x-b", {"pod": "a"}, ingress=[{"from": [pods_sel(pod="b")]}]))
    c.check(all_pods(c).expect_all_ingress("x/a", False).expect("x/b", "x/a", True))


@scenario
def deny_all_then_allow_target(c: Cluster) -> None:
    c.apply(pol("x", "deny-all", ingress=[]))
    everyone = {"podSelector": {}, "namespaceSelector": {}}
    c.apply(pol("x", "allow-all-to-a", {"pod": "a"}, ingress=[{"from": [everyone]}]))
    c.check(
        all_pods(c)
        .expect_all_ingress("x/b", False)
        .expect_all_ingress("x/c", False)
        .expect_all_ingress("x/a", True)
    )


@scenario
def allow_from_all_namespaces(c: Cluster) -> None:
    c.apply(pol("x", "from-all-ns", {"pod": "a"}, ingress=[{"from": [{"namespaceSelector": {}}]}]))
    c.check(all_pods(c))


@scenario
def empty_namespace_selector_includes_kube_system(c: Cluster) -> None:
    c.add_namespace("kube-system")
    c.add_pod("kube-system", "dns", "node-1")
    c.apply(
        pol(
            "x",
            "from-dns",
            {"pod": "a"},
            ingress=[
                {
                    "from": [
                        {"namespaceSelector": {}, "podSelector": {"matchLabels": {"pod": "dns"}}}
                    ]
                }
            ],
        )
    )
    c.check(all_pods(c).expect_all_ingress("x/a", False).expect("kube-system/dns", "x/a", True))


@scenario
def allow_only_from_other_namespace(c: Cluster) -> None:
    c.apply(pol("x", "from-y", {"pod": "a"}, ingress=[{"from": [ns_sel(ns="y")]}]))
    c.check(
        all_pods(c)
        .expect_peer(False, frm_ns="x", to_ns="x", to_pod="a")
        .expect_peer(False, frm_ns="z", to_ns="x", to_pod="a")
    )


@scenario
def pod_selector_match_expressions(c: Cluster) -> None:
    expr = {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["b"]}]}
    c.apply(pol("x", "x-a-from-b", {"pod": "a"}, ingress=[{"from": [{"podSelector": expr}]}]))
    c.check(all_pods(c).expect_all_ingress("x/a", False).expect("x/b", "x/a", True))


@scenario
def namespace_selector_match_expressions(c: Cluster) -> None:
    expr = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["y"]}
        ]
    }
    c.apply(pol("x", "from-y", {"pod": "a"}, ingress=[{"from": [{"namespaceSelector": expr}]}]))
    c.check(
        all_pods(c)
        .expect_peer(False, frm_ns="x", to_ns="x", to_pod="a")
        .expect_peer(False, frm_ns="z", to_ns="x", to_pod="a")
    )


@scenario
def pod_selector_or_namespace_selector(c: Cluster) -> None:
    not_x = {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}
    c.apply(
        pol(
            "x",
            "or",
            {"pod": "a"},
            ingress=[{"from": [{"namespaceSelector": not_x}, pods_sel(pod="b")]}],
        )
    )
    c.check(all_pods(c).expect("x/c", "x/a", False))


@scenario
def pod_selector_and_namespace_selector(c: Cluster) -> None:
    not_x = {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}
    peer = {"namespaceSelector": not_x, "podSelector": {"matchLabels": {"pod": "b"}}}
    c.apply(pol("x", "and", {"pod": "a"}, ingress=[{"from": [peer]}]))
    c.check(
        all_pods(c)
        .expect_all_ingress("x/a", False)
        .expect("y/b", "x/a", True)
        .expect("z/b", "x/a", True)
    )


@scenario
def multiple_pod_and_namespace_selectors(c: Cluster) -> None:
    not_x = {"matchExpressions": [{"key": "ns", "operator": "NotIn", "values": ["x"]}]}
    b_or_c = {"matchExpressions": [{"key": "pod", "operator": "In", "values": ["b", "c"]}]}
    c.apply(
        pol(
            "x",
            "and",
            {"pod": "a"},
            ingress=[{"from": [{"namespaceSelector": not_x, "podSelector": b_or_c}]}],
        )
    )
    reach = all_pods(c).expect_all_ingress("x/a", False)
    for src in ("y/b", "y/c", "z/b", "z/c"):
        reach.expect(src, "x/a", True)
    c.check(reach)


@scenario
def ingress_on_one_named_port(c: Cluster) -> None:
    c.apply(pol("x", "named", {"pod": "a"}, ingress=[{"ports": [{"port": "serve-81-tcp"}]}]))
    c.check(all_pods(c), (TCP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 80), (UDP, 81))


@scenario
def named_port_resolves_per_destination_pod_ingress(c: Cluster) -> None:
    c.add_ports("x/a", ("web", 80, "TCP"))
    c.add_ports("x/b", ("web", 81, "TCP"))
    sel = [{"key": "pod", "operator": "In", "values": ["a", "b"]}]
    c.apply(pol("x", "web", select_expr=sel, ingress=[{"ports": [{"port": "web"}]}]))
    c.check(all_pods(c).expect_all_ingress("x/b", False), (TCP, 80))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 81))


@scenario
def egress_on_one_named_port(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "named",
            {"pod": "a"},
            egress=[{"ports": [{"port": "serve-80-tcp"}]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c), (TCP, 80))
    c.check(all_pods(c).expect_all_egress("x/a", False), (TCP, 81), (UDP, 80))


@scenario
def named_port_resolves_per_destination_pod_egress(c: Cluster) -> None:
    c.add_ports("x/b", ("web", 81, "TCP"))
    for name in POD_NAMES:
        c.add_ports(f"y/{name}", ("web", 80, "TCP"))
    c.apply(
        pol("x", "to-web", {"pod": "a"}, egress=[{"ports": [{"port": "web"}]}], types=["Egress"])
    )
    reach80 = all_pods(c).expect_all_egress("x/a", False)
    for name in POD_NAMES:
        reach80.expect("x/a", f"y/{name}", True)
    c.check(reach80, (TCP, 80))
    c.check(all_pods(c).expect_all_egress("x/a", False).expect("x/a", "x/b", True), (TCP, 81))


@scenario
def egress_named_port_to_selected_pods(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "to-y",
            {"pod": "a"},
            egress=[
                {"to": [ns_sel(ns="y")], "ports": [{"protocol": "UDP", "port": "serve-81-udp"}]}
            ],
            types=["Egress"],
        )
    )
    reach = all_pods(c).expect_all_egress("x/a", False)
    for name in POD_NAMES:
        reach.expect("x/a", f"y/{name}", True)
    c.check(reach, (UDP, 81))
    c.check(all_pods(c).expect_all_egress("x/a", False), (UDP, 80), (TCP, 81))


@scenario
def udp_only_policy_does_not_allow_tcp(c: Cluster) -> None:
    c.apply(pol("x", "udp", {"pod": "a"}, ingress=[{"ports": [{"protocol": "UDP", "port": 81}]}]))
    c.check(all_pods(c), (UDP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 81), (UDP, 80))


@scenario
def sctp_is_not_tcp(c: Cluster) -> None:
    c.apply(pol("x", "sctp", {"pod": "a"}, ingress=[{"ports": [{"protocol": "SCTP", "port": 80}]}]))
    c.check(all_pods(c), (SCTP, 80))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 80), (UDP, 80))


@scenario
def ingress_any_port_of_one_protocol(c: Cluster) -> None:
    c.apply(pol("x", "udp-any", {"pod": "a"}, ingress=[{"ports": [{"protocol": "UDP"}]}]))
    c.check(all_pods(c), (UDP, 80), (UDP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 80), (SCTP, 81))


@scenario
def ingress_end_port(c: Cluster) -> None:
    c.apply(pol("x", "range", {"pod": "a"}, ingress=[{"ports": [{"port": 81, "endPort": 90}]}]))
    c.check(all_pods(c), (TCP, 81))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 80), (UDP, 81))


@scenario
def egress_end_port(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "range",
            {"pod": "a"},
            egress=[{"ports": [{"port": 80, "endPort": 81}]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c), (TCP, 80), (TCP, 81))
    c.check(all_pods(c).expect_all_egress("x/a", False), (UDP, 80))


@scenario
def ingress_ip_block_with_except(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "cidr",
            {"pod": "a"},
            ingress=[{"from": [block("10.1.0.0/16", f"{c.ip('x/b')}/32")]}],
        )
    )
    c.check(all_pods(c).expect("x/b", "x/a", False))


@scenario
def egress_to_cidr_block(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "cidr",
            {"pod": "a"},
            egress=[{"to": [block(f"{c.ip('y/b')}/32")]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c).expect_all_egress("x/a", False).expect("x/a", "y/b", True))


@scenario
def egress_cidr_block_except(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "cidr",
            {"pod": "a"},
            egress=[{"to": [block("10.1.0.0/16", f"{c.ip('y/b')}/32")]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c).expect("x/a", "y/b", False))


@scenario
def ip_in_both_cidr_and_except_of_two_policies(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "except-yb",
            {"pod": "a"},
            egress=[{"to": [block("10.1.0.0/16", f"{c.ip('y/b')}/32")]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c).expect("x/a", "y/b", False))
    c.apply(
        pol(
            "x",
            "only-yb",
            {"pod": "a"},
            egress=[{"to": [block(f"{c.ip('y/b')}/32")]}],
            types=["Egress"],
        )
    )
    c.check(all_pods(c))


@scenario
def ingress_and_egress_together(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "both",
            {"pod": "a"},
            ingress=[{"from": [pods_sel(pod="b")]}],
            egress=[{"to": [ns_sel(ns="y")]}],
            types=["Ingress", "Egress"],
        )
    )
    reach = all_pods(c).expect_all_ingress("x/a", False).expect("x/b", "x/a", True)
    reach.expect_all_egress("x/a", False)
    for name in POD_NAMES:
        reach.expect("x/a", f"y/{name}", True)
    c.check(reach, (TCP, 80), (UDP, 81))


@scenario
def default_policy_types_include_egress_when_egress_rules_exist(c: Cluster) -> None:
    c.apply(pol("x", "no-types", {"pod": "a"}, egress=[{"to": [pods_sel(pod="b")]}]))
    c.check(
        all_pods(c)
        .expect_all_ingress("x/a", False)
        .expect_all_egress("x/a", False)
        .expect("x/a", "x/b", True)
    )


@scenario
def egress_rules_ignored_when_policy_types_say_ingress(c: Cluster) -> None:
    c.apply(
        pol(
            "x",
            "ingress-only",
            {"pod": "a"},
            egress=[{"to": [pods_sel(pod="b")]}],
            types=["Ingress"],
        )
    )
    c.check(all_pods(c).expect_all_ingress("x/a", False))


@scenario
def client_egress_deny_beats_server_ingress_allow(c: Cluster) -> None:
    c.apply(pol("x", "a-no-egress", {"pod": "a"}, egress=[], types=["Egress"]))
    peer = {
        "namespaceSelector": {"matchLabels": {"ns": "x"}},
        "podSelector": {"matchLabels": {"pod": "a"}},
    }
    c.apply(pol("y", "from-x-a", ingress=[{"from": [peer]}]))
    c.check(all_pods(c).expect_all_egress("x/a", False).expect_peer(False, to_ns="y"))


@scenario
def egress_to_other_namespace_by_pod_and_namespace(c: Cluster) -> None:
    peer = {
        "namespaceSelector": {"matchLabels": {"ns": "y"}},
        "podSelector": {"matchLabels": {"pod": "a"}},
    }
    c.apply(pol("x", "to-y-a", {"pod": "a"}, egress=[{"to": [peer]}], types=["Egress"]))
    c.check(
        all_pods(c).expect_all_egress("x/a", False).expect("x/a", "y/a", True), (TCP, 80), (TCP, 81)
    )


@scenario
def ingress_allow_all_takes_precedence(c: Cluster) -> None:
    c.apply(pol("x", "only-80", {"pod": "a"}, ingress=[{"ports": [{"port": 80}]}]))
    c.check(all_pods(c).expect_all_ingress("x/a", False), (TCP, 81))
    c.apply(pol("x", "allow-all", {"pod": "a"}, ingress=[{}]))
    c.check(all_pods(c), (TCP, 80), (TCP, 81))


@scenario
def egress_allow_all_takes_precedence(c: Cluster) -> None:
    c.apply(pol("x", "only-80", {"pod": "a"}, egress=[{"ports": [{"port": 80}]}], types=["Egress"]))
    c.check(all_pods(c).expect_all_egress("x/a", False), (TCP, 81))
    c.apply(pol("x", "allow-all", {"pod": "a"}, egress=[{}], types=["Egress"]))
    c.check(all_pods(c), (TCP, 80), (TCP, 81))


@scenario
def deny_all_then_allow_then_delete_step_by_step(c: Cluster) -> None:
    c.apply(pol("x", "deny", ingress=[]))
    c.check(all_pods(c).expect_peer(False, to_ns="x"))
    c.apply(pol("x", "from-y", ingress=[{"from": [ns_sel(ns="y")]}]))
    c.check(all_pods(c).expect_peer(False, to_ns="x").expect_peer(True, frm_ns="y", to_ns="x"))
    c.delete("x", "deny")  # from-y still selects every pod of x: still isolated
    c.check(all_pods(c).expect_peer(False, to_ns="x").expect_peer(True, frm_ns="y", to_ns="x"))
    c.delete("x", "from-y")
    c.check(all_pods(c))


@scenario
def stop_enforcing_after_delete(c: Cluster) -> None:
    c.apply(pol("x", "deny-all", ingress=[], egress=[], types=["Ingress", "Egress"]))
    c.check(all_pods(c).expect_peer(False, to_ns="x").expect_peer(False, frm_ns="x"))
    c.delete("x", "deny-all")
    c.check(all_pods(c), (TCP, 80), (UDP, 81))


@scenario
def allow_from_updated_namespace(c: Cluster) -> None:
    c.apply(pol("x", "from-team", {"pod": "a"}, ingress=[{"from": [ns_sel(team="ok")]}]))
    c.check(all_pods(c).expect_all_ingress("x/a", False))
    c.label_namespace("y", team="ok")
    c.check(
        all_pods(c)
        .expect_all_ingress("x/a", False)
        .expect_peer(True, frm_ns="y", to_ns="x", to_pod="a")
    )


@scenario
def allow_from_updated_pod(c: Cluster) -> None:
    c.apply(pol("x", "from-client", {"pod": "a"}, ingress=[{"from": [pods_sel(role="client")]}]))
    c.check(all_pods(c).expect_all_ingress("x/a", False))
    c.label_pod("x/b", role="client")
    c.check(all_pods(c).expect_all_ingress("x/a", False).expect("x/b", "x/a", True))


@scenario
def deny_ingress_to_updated_pod(c: Cluster) -> None:
    c.apply(pol("x", "deny-targets", {"role": "target"}, ingress=[]))
    c.check(all_pods(c))
    c.label_pod("x/c", role="target")
    c.check(all_pods(c).expect_all_ingress("x/c", False))


@scenario
def ingress_and_egress_controlled_independently(c: Cluster) -> None:
    c.apply(pol("x", "a-egress", {"pod": "a"}, egress=[], types=["Egress"]))
    c.apply(pol("x", "b-ingress", {"pod": "b"}, ingress=[]))
    c.check(all_pods(c).expect_all_egress("x/a", False).expect_all_ingress("x/b", False))
