"""The policy scenarios' evaluator: ``contivpp.dataplane`` over what VPP holds.

For every check of a scenario, each node's desired set is rendered by the agent's own
renderers (``contivpp.renderers.render`` of a cluster state folded from the events the agent
would see: its node ID and the other nodes', the Kubernetes objects as the KSR writes them,
a CNI ADD per local pod), reconciled by the real KV scheduler and VPP descriptors into an
in-process simulator per node, and read back over the binary API with
:func:`contivpp.dataplane.read_snapshot`. A flow is then forwarded by the model: the request
from the client pod's TAP, and the server's reply from where the request was delivered, both
across VXLAN into the other node's snapshot when the pods are on different nodes. A verdict
is "allowed" when both reach the other pod's TAP with the expected addresses and ports; a
packet stopped anywhere else than by an ACL (no route, a NAT miss, a wrong delivery) fails
the test with the model's trace, so a broken topology can never pass as a denied flow.

Every connection is judged on its own: the model's sessions (ACL reflect, NAT) start from
what VPP holds for each connection, and are kept between its request and its reply. Sharing
them across probes would let one probe answer another: SCTP has no ports the ACL plugin
parses, so any SCTP packet a sent to b (allowed or not) leaves a reflect session on a's TAP
that lets b's SCTP reach a (what VPP really does;
``test_sctp_attempt_opens_the_reverse_direction`` pins it).

The scenario code is synchronous, so the simulators, clients and schedulers live on a
background event loop (:class:`SimNodes`) and each check waits for it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from itertools import count
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from contivpp.config import AgentConfig
from contivpp.dataplane import TCP, UDP, Dataplane, Outcome, Packet, Snapshot, read_snapshot
from contivpp.dataplane.forward import NodeState, session_flows
from contivpp.dataplane.trace import summary
from contivpp.events import k8s
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import CNIAdd, Event, K8sUpserted, NodeIDAllocated
from contivpp.ipam import vpp_host_linux_ip
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.renderers import render
from contivpp.renderers.pods import tap_name
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.sim import Simulator

if TYPE_CHECKING:
    from policy_scenarios import Cluster

T = TypeVar("T")
SCTP = 132
#: The stages where a policy stops a packet: the ACL plugin on an interface's input or output.
POLICY_STAGES = ("acl-in", "acl-out")
SERVICE_NET = "10.96.0"


# ---- the world the agent sees ----------------------------------------------------------------


def node_id(node: str) -> int:
    return int(node.rsplit("-", 1)[1])


def container_id(pod: str) -> str:
    return "cid-" + pod.replace("/", "-")


def pod_tap(pod: str) -> str:
    return tap_name(container_id(pod))


def host_ip(node: str) -> str:
    """The node's Linux end of the VPP-host link (the node's own address as pods see it)."""
    return str(vpp_host_linux_ip(AgentConfig(node).ipam, node_id(node)))


def service_of(c: Cluster, pod: str) -> tuple[str, str]:
    """(name, ClusterIP) of the one-pod Service fronting ``pod`` (``via_service`` worlds)."""
    name = pod.split("/")[1]
    return f"svc-{name}", f"{SERVICE_NET}.{sorted(c.pods).index(pod) + 10}"


def service_port(protocol: int, port: int) -> int:
    """The Service port that targets ``port``: +1000 for TCP and UDP; SCTP is translated by
    address only (``services._map_address_only``), so its service port is the target port."""
    return port if protocol == SCTP else port + 1000


def _services(c: Cluster, pod: str) -> list[k8s.K8sObject]:
    """A Service selecting the one pod, and its EndpointSlice as the KSR writes them."""
    ns, name = pod.split("/")
    svc_name, cluster_ip = service_of(c, pod)
    ports = [
        (f"{proto.lower()}-{port}", proto, service_port(number, port), port)
        for proto, number in (("TCP", TCP), ("UDP", UDP), ("SCTP", SCTP))
        for port in (80, 81)
    ]
    service = k8s.Service(
        ns,
        svc_name,
        cluster_ip=cluster_ip,
        ports=tuple(k8s.ServicePort(n, proto, sp, tp) for n, proto, sp, tp in ports),
        selector=(("pod", name),),
    )
    slice_ = k8s.EndpointSlice(
        ns,
        f"{svc_name}-1",
        svc_name,
        endpoints=(k8s.Endpoint((c.ip(pod),), node_name=c.nodes[pod], target_pod=(ns, name)),),
        ports=tuple(k8s.EndpointPort(n, tp, proto) for n, proto, _, tp in ports),
    )
    return [service, slice_]


def cluster_events(c: Cluster, node: str) -> list[Event]:
    """What ``node``'s agent has seen of the scenario's world, in the order it would see it."""
    nodes = sorted(set(c.nodes.values()))
    events: list[Event] = [NodeIDAllocated(n, node_id(n)) for n in nodes]
    events += [
        K8sUpserted(k8s.Node(n, (k8s.NodeAddress("InternalIP", f"10.20.0.{node_id(n)}"),)))
        for n in nodes
    ]
    events += [
        K8sUpserted(k8s.Namespace(ns, labels)) for ns, labels in sorted(c.namespaces.items())
    ]
    for key, pod in sorted(c.pods.items()):
        events.append(K8sUpserted(pod))
        if c.via_service:
            events += [K8sUpserted(o) for o in _services(c, key)]
        if c.nodes[key] == node:
            netns = f"/var/run/netns/{container_id(key)}"
            events.append(CNIAdd(container_id(key), netns, "eth0", pod.namespace, pod.name, pod.ip))
    events += [K8sUpserted(p) for _, p in sorted(c.policies.items())]
    return events


def node_state(c: Cluster, node: str) -> ClusterState:
    state = initial_state(AgentConfig(node))
    for event in cluster_events(c, node):
        state = fold(state, event)
    return state


def vpp_desired(c: Cluster, node: str) -> dict[Key, object]:
    """The part of ``node``'s desired set that lives in VPP (there is no Linux side here)."""
    return {
        k: v for k, v in render(node_state(c, node), strict=True).items() if k.startswith("vpp/")
    }


# ---- simulators --------------------------------------------------------------------------------


@attrs.define
class _Node:
    sim: Simulator
    client: VPPClient
    sched: Scheduler
    desired: dict[Key, object] = attrs.Factory(dict)
    snapshot: Snapshot | None = None


class SimNodes:
    """In-process simulated VPPs by name, driven from synchronous code through a background
    event loop. Programming a node commits only the difference to what it holds."""

    def __init__(self) -> None:
        # Unix socket paths are limited to 107 bytes: stay out of pytest's deep tmp_path.
        self.directory = tempfile.mkdtemp(prefix="polsim-", dir="/tmp")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-nodes", daemon=True)
        self.thread.start()
        self.nodes: dict[str, _Node] = {}

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def program(self, sim: str, node: str, desired: dict[Key, object]) -> Snapshot:
        """Reconcile ``desired`` into simulator ``sim``; its snapshot, named ``node``."""
        return self._run(self._program(sim, node, desired))

    def close(self) -> None:
        self._run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _start(self, name: str) -> _Node:
        sim = Simulator(seed=7)
        path = f"{self.directory}/{len(self.nodes)}.sock"
        await sim.start(path)
        client = VPPClient(path, timeout=5, retry_interval=0.01)
        await client.__aenter__()
        sched = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        node = self.nodes[name] = _Node(sim, client, sched)
        return node

    async def _close(self) -> None:
        for node in self.nodes.values():
            await node.client.__aexit__(None, None, None)
            await node.sim.close()

    async def _program(self, name: str, node: str, desired: dict[Key, object]) -> Snapshot:
        held = self.nodes.get(name) or await self._start(name)
        if held.snapshot is not None and held.snapshot.node == node and held.desired == desired:
            return held.snapshot  # nothing changed; only we program these simulators
        delta: dict[Key, object | None] = {k: None for k in held.desired if k not in desired}
        delta.update({k: v for k, v in desired.items() if held.desired.get(k) != v})
        record = await held.sched.commit(delta, trigger="policy-scenario")
        assert record.ok, dict(record.errors)
        held.desired = dict(desired)
        held.snapshot = await read_snapshot(held.client, node)
        return held.snapshot


def sim_nodes() -> Iterator[SimNodes]:
    """Body of a fixture: one set of simulators for a module."""
    nodes = SimNodes()
    yield nodes
    nodes.close()


# ---- the judge ---------------------------------------------------------------------------------


Pair = tuple[str, str]


class ModelVerdicts:
    """The model's verdicts over snapshots of the nodes as they are now. ``tap_of`` names a
    pod's TAP (its VPP tag, from the container ID the pod was wired with)."""

    def __init__(
        self,
        snapshots: list[Snapshot],
        tap_of: Callable[[str], str],
        c: Cluster,
        ports: Iterator[int],
    ) -> None:
        labels = {
            node: {tap_of(p): p for p, n in c.nodes.items() if n == node}
            for node in set(c.nodes.values())
        }
        self.dataplane = Dataplane(snapshots, labels)
        self._held = {snap.node: session_flows(snap) for snap in snapshots}
        self.tap_of = tap_of
        self._ports = ports
        self.connections = 0

    def _fresh(self) -> Dataplane:
        """The model with only the sessions VPP holds: one connection's own state."""
        dp = self.dataplane
        dp.state = {node: NodeState(nat_flows=dict(flows)) for node, flows in self._held.items()}
        return dp

    def destination(self, c: Cluster, to: str, protocol: int, port: int) -> tuple[str, int]:
        """Where a client sends to reach pod ``to`` on ``port``: its IP, or its Service."""
        if c.via_service:
            return service_of(c, to)[1], service_port(protocol, port)
        return c.ip(to), port

    def connect(self, c: Cluster, frm: str, to: str, protocol: int, port: int) -> bool:
        """Whether a connection from pod ``frm`` to pod ``to`` (through its Service in a
        ``via_service`` world) is set up: the request and the reply both delivered."""
        dp = self._fresh()
        dst, dport = self.destination(c, to, protocol, port)
        client = (c.nodes[frm], self.tap_of(frm), c.ip(frm))
        server = (c.nodes[to], self.tap_of(to), c.ip(to), port)
        packet = Packet(c.ip(frm), dst, protocol, self._sport(), dport)
        return self._connect(dp, packet, client, server)

    def host_connects(self, c: Cluster, pod: str, protocol: int, port: int) -> tuple[bool, bool]:
        """(node -> pod, pod -> node): the pod's own node reaching it and being reached."""
        dp = self._fresh()
        node, tap = c.nodes[pod], self.tap_of(pod)
        host = host_ip(node)
        into = self._connect(
            dp,
            Packet(host, c.ip(pod), protocol, self._sport(), port),
            (node, "", host),
            (node, tap, c.ip(pod), port),
        )
        out = self._connect(
            dp,
            Packet(c.ip(pod), host, protocol, self._sport(), port),
            (node, tap, c.ip(pod)),
            (node, "", host, port),
        )
        return into, out

    def _sport(self) -> int:
        self.connections += 1
        return next(self._ports)

    @staticmethod
    def _connect(
        dp: Dataplane,
        packet: Packet,
        client: tuple[str, str, str],
        server: tuple[str, str, str, int],
    ) -> bool:
        """``client``: (node, TAP, IP), ``server``: (node, TAP, IP, port); a TAP "" is the
        host link, found by the model from the address."""
        request = dp.send(packet, node=client[0])
        if not request.delivered:
            _policy_stop(request)
            return False
        _delivered_to(request, server[0], server[1], server[2], server[3], dp)
        reply = dp.reply(request)
        if not reply.delivered:
            _policy_stop(reply)
            return False
        # The reply reaches the client from the address and port it sent to (NAT undone).
        _delivered_to(reply, client[0], client[1], client[2], packet.sport, dp)
        assert (reply.packet.src, reply.packet.sport) == (packet.dst, packet.dport) or (
            packet.proto not in (TCP, UDP) and reply.packet.src == packet.dst
        ), explain(reply)
        return True


class ModelJudge:
    """Judges a :class:`~policy_scenarios.Cluster`'s probes with the forwarding model over
    simulators programmed from the rendered config. ``prefix`` names this world's simulators
    (reusing a prefix reuses the simulators: only the difference is programmed)."""

    def __init__(self, nodes: SimNodes, prefix: str) -> None:
        self.nodes = nodes
        self.prefix = prefix
        self.model: ModelVerdicts | None = None
        self._ports = count(40000)

    @property
    def connections(self) -> int:
        return 0 if self.model is None else self.model.connections

    def sync(self, c: Cluster) -> Dataplane:
        """Program every node with the cluster as it is now; the model over their snapshots."""
        snapshots = [
            self.nodes.program(f"{self.prefix}/{node}", node, vpp_desired(c, node))
            for node in sorted(set(c.nodes.values()))
        ]
        before = self.connections
        self.model = ModelVerdicts(snapshots, pod_tap, c, self._ports)
        self.model.connections = before
        return self.model.dataplane

    def verdicts(self, c: Cluster, pairs: list[Pair], protocol: int, port: int) -> dict[Pair, bool]:
        model = self.model
        assert model is not None, "sync first"
        return {(f, t): model.connect(c, f, t, protocol, port) for f, t in pairs}

    def host_verdicts(
        self, c: Cluster, pods: list[str], protocol: int, port: int
    ) -> dict[str, tuple[bool, bool]]:
        model = self.model
        assert model is not None, "sync first"
        return {pod: model.host_connects(c, pod, protocol, port) for pod in pods}


def _delivered_to(outcome: Outcome, node: str, tap: str, ip: str, port: int, dp: Dataplane) -> None:
    if not tap:  # the host link: the interface VPP routes the host's address out of
        found = dp.ingress_of(ip, node)
        assert found is not None, ip
        tap = found.name
    ports_ok = outcome.packet.proto not in (TCP, UDP) or outcome.packet.dport == port
    assert (
        outcome.stage != "local"
        and (outcome.node, outcome.interface, outcome.packet.dst) == (node, tap, ip)
        and ports_ok
    ), f"expected delivery to {node}/{tap} {ip}:{port}\n{explain(outcome)}"


def _policy_stop(outcome: Outcome) -> None:
    """A flow a scenario expects denied must be stopped by an ACL, and nothing else."""
    assert outcome.stage in POLICY_STAGES, (
        f"stopped by something else than a policy\n{explain(outcome)}"
    )


def explain(outcome: Outcome) -> str:
    hops = "\n".join(
        f"  {h.stage:<12} {h.verdict:<9} {h.node}/{h.interface}: {h.reason}" for h in outcome.hops
    )
    return f"{hops}\n  => {summary(outcome)}"
