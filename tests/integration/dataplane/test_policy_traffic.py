"""The policy scenarios with real sockets, checked against the model on the same VPP.

One node as ``test_real_traffic.py`` builds it (etcd, ``contivpp vppsim --linux-taps`` as its
own process, the agent, pods in real network namespaces wired by ``contivpp-cni``), with the
scenarios' namespaces x/y/z and pods a/b/c. Each pod's netns runs one long-lived helper
process that serves TCP and UDP on ports 80 and 81 (answering its pod's name) and runs probes
it reads from stdin, concurrently (a TCP connect + HTTP-like request, a UDP datagram and its
echo, agnhost-connect style outcomes: CONNECTED / REFUSED / TIMEOUT). The node itself has one
too, bound to its VPP-host link address.

For every check of a scenario, the Kubernetes objects (namespaces, pods, policies, and the
Services in the ClusterIP world) are written to etcd as the KSR writes them; once the agent
has handled them all, VPP is read back over the binary API and every probe is answered three
times: by the forwarding model (``policy_model.ModelVerdicts``), by ``contivpp trace --reply``'s
entry points (``trace.build_request`` / ``trace.run``) over the same snapshot, and by real
packets. All three must be equal, and equal to the scenario's expectation.

Every scenario runs on pod IPs; a subset, one per rule shape, also through ClusterIPs
(``CLUSTER_IP_SCENARIOS``). Not covered with real packets: SCTP probes (the test hosts'
kernels have no SCTP sockets): the model alone answers them here, as in the unit tables; two
nodes (one agent per host; ``test_vxlan_traffic.py`` carries real VXLAN between two
simulators without agents, and the unit tables run every scenario on two nodes).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))

from agent_harness import Node, Pod
from policy_model import ModelVerdicts, host_ip, service_of, service_port
from policy_scenarios import SCENARIOS, TCP, UDP, Cluster, make_cluster

from contivpp.dataplane import read_snapshot, trace
from contivpp.datastore import keys as object_keys
from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import decode_value, encode_object
from contivpp.events import k8s
from contivpp.renderers.pods import tap_name
from contivpp.vpp.client import VPPClient
from etcd_server import EtcdServer

T = TypeVar("T")
NODE = "node-1"
PORTS = (80, 81)
#: How long a probe waits for an answer; a denied flow is one that gets none in this time.
TIMEOUT = 1.0

#: One process per netns: serves TCP and UDP on PORTS answering NAME, and runs the probes
#: "ID tcp|udp HOST PORT TIMEOUT" it reads from stdin in threads, printing "ID OUTCOME".
HELPER = r"""
import socket, socketserver, sys, threading
name, bind = sys.argv[1], sys.argv[2]
ports = [int(p) for p in sys.argv[3].split(",")]
lock = threading.Lock()
def say(text):
    with lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
class Tcp(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(5)
        self.request.recv(100)
        self.request.sendall(name.encode())
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind, port))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(name.encode(), peer)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
for port in ports:
    server = socketserver.ThreadingTCPServer((bind, port), Tcp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=udp, args=(port,), daemon=True).start()
def probe(ident, proto, host, port, timeout):
    try:
        if proto == "tcp":
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(b"hello")
                data = s.makefile("rb").read()  # the server answers its name and closes
            say(f"{ident} CONNECTED {data.decode()} {host}")
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            s.sendto(b"ping", (host, port))
            data, peer = s.recvfrom(100)
            s.close()
            say(f"{ident} CONNECTED {data.decode()} {peer[0]}")
    except ConnectionRefusedError:
        say(f"{ident} REFUSED")
    except (TimeoutError, socket.timeout):
        say(f"{ident} TIMEOUT")
    except OSError as exc:
        say(f"{ident} ERROR {exc.errno}")
say("ready")
for line in sys.stdin:
    ident, proto, host, port, timeout = line.split()
    args = (ident, proto, host, int(port), float(timeout))
    threading.Thread(target=probe, args=args, daemon=True).start()
"""


class Helper:
    """The server-and-prober process of one netns ("" = the node's own netns)."""

    def __init__(self, netns: str, name: str, bind: str) -> None:
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-u", "-c", HELPER, name, bind, ",".join(map(str, PORTS))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().strip() == "ready", f"helper {name} did not start"
        self.results: dict[str, str] = {}
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            ident, _, outcome = line.strip().partition(" ")
            with self.cond:
                self.results[ident] = outcome
                self.cond.notify_all()

    def submit(
        self, ident: str, proto: str, host: str, port: int, timeout: float = TIMEOUT
    ) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{ident} {proto} {host} {port} {timeout}\n")
        self.proc.stdin.flush()

    def result(self, ident: str) -> str:
        with self.cond:
            assert self.cond.wait_for(lambda: ident in self.results, timeout=TIMEOUT + 20), ident
            return self.results.pop(ident)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.reader.join(10)  # EOF once the process is gone
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class World:
    """The node, its pods (wired on demand), their helpers, and what was written to etcd."""

    def __init__(self, work: Path, etcd: EtcdServer) -> None:
        self.etcd = etcd
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="world", daemon=True)
        self.thread.start()
        self.node = Node(NODE, work, etcd)
        self.pods: dict[str, Pod] = {}
        self.ips: dict[str, str] = {}
        self.helpers: dict[str, Helper] = {}
        self.written: dict[str, bytes] = {}
        self.ids = itertools.count()
        self.ports = itertools.count(40000)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def start(self) -> None:
        self.node.sim.start()
        self.run(self.node.start_agent())
        controller = self.node.agent.controller  # type: ignore[union-attr]
        assert controller.state.node_id == 1  # host_ip(NODE) and the pod subnet follow
        # "Every event handled" is ``handled == len(history)``: keep the whole history (the
        # agent keeps the last 1,000; this suite has a few thousand events).
        controller.history = collections.deque(controller.history)
        self.helpers[""] = Helper("", "node", host_ip(NODE))

    def close(self) -> None:
        for helper in self.helpers.values():
            helper.stop()
        self.run(self.node.stop_agent())
        self.node.sim.stop()
        for pod in self.pods.values():
            pod.delete_netns()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def address(self, key: str, node: str, _index: int) -> str:
        """The pod's IP, wiring it first (a netns, CNI ADD, its helper) if it is new."""
        assert node == NODE, "one node only"
        if key not in self.pods:
            ns, name = key.split("/")
            pod = Pod(self.node, name, ns)
            pod.create_netns()
            self.pods[key] = pod
            code, result = self.run(pod.cni("ADD"))
            assert code == 0, result
            self.ips[key] = str(result["ips"][0]["address"]).split("/")[0]  # type: ignore[index]
            self.helpers[key] = Helper(pod.netns_name, key, "0.0.0.0")
            # The first packet towards the node waits for VPP to resolve it by ARP (and is
            # dropped meanwhile, as VPP does): resolve before the probes, whose short timeout
            # would take a TCP retransmission for a denial. The node always reaches its pods.
            ident = str(next(self.ids))
            self.helpers[key].submit(ident, "tcp", host_ip(NODE), PORTS[0], timeout=5)
            outcome = self.helpers[key].result(ident)
            assert outcome == f"CONNECTED node {host_ip(NODE)}", outcome
        return self.ips[key]

    def tap_of(self, key: str) -> str:
        return tap_name(self.pods[key].container_id)

    def write(self, objects: list[dict[str, object]]) -> None:
        """Make etcd hold exactly ``objects`` (of those this test writes), as the KSR does,
        and wait until the agent has handled them all."""
        encoded = {e.key: e.value for e in map(encode_object, objects)}
        self.run(self._write(encoded))
        expected = {key: decode_value(key, value).obj for key, value in encoded.items()}
        gone = [key for key in self.written if key not in encoded]
        self.written = encoded
        deadline = time.monotonic() + 20
        while missing := self.run(self._handled(expected, gone)):
            assert time.monotonic() < deadline, f"the agent did not take the objects in: {missing}"
            time.sleep(0.02)

    async def _write(self, encoded: dict[str, bytes]) -> None:
        async with EtcdStore([(self.etcd.host, self.etcd.port)]) as store:
            for key in self.written:
                if key not in encoded:
                    await store.delete(key)
            for key, value in encoded.items():
                if self.written.get(key) != value:
                    await store.put(key, value)

    async def _handled(self, expected: dict[str, k8s.K8sObject], gone: list[str]) -> str:
        """What the agent has not handled yet ("" when it has handled everything)."""
        controller = self.node.agent.controller  # type: ignore[union-attr]
        if controller.handled != len(controller.history):
            return "an event is being handled (its delta is not in VPP yet)"
        state = controller.state
        for key, obj in expected.items():
            ref = k8s.ref_of(obj)
            held = state.of_kind(ref.kind).get((ref.namespace, ref.name))
            if held != obj:
                return f"{key}: the agent holds {held}, not {obj}"
        for key in gone:
            ref = object_keys.parse_object_key(key)
            if (ref.namespace, ref.name) in state.of_kind(ref.kind):
                return f"{key}: still held by the agent"
        return ""

    def snapshot_verdicts(self, c: Cluster) -> ModelVerdicts:
        async def read() -> Any:
            async with VPPClient(str(self.node.sim.socket), name="policy-traffic") as client:
                return await read_snapshot(client, NODE)

        return ModelVerdicts([self.run(read())], self.tap_of, c, self.ports)


# ---- the Kubernetes objects, as the API server gives them to the KSR -------------------------


def namespace_raw(name: str, labels: k8s.Labels) -> dict[str, object]:
    # The API server labels every namespace with its name.
    all_labels = {**dict(labels), "kubernetes.io/metadata.name": name}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": all_labels},
    }


def pod_raw(pod: k8s.Pod) -> dict[str, object]:
    ports = [{"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in pod.ports]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": dict(pod.labels),
                     "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{pod.namespace}/{pod.name}"))},
        "spec": {"nodeName": pod.node_name, "containers": [{"name": "main", "ports": ports}]},
        "status": {"podIP": pod.ip},
    }  # fmt: skip


def service_raws(c: Cluster, key: str) -> list[dict[str, object]]:
    """The one-pod Service of ``policy_model`` (TCP and UDP ports 1080/1081 -> 80/81) and its
    EndpointSlice."""
    ns, name = key.split("/")
    svc, cluster_ip = service_of(c, key)
    ports = [
        (f"{proto.lower()}-{port}", proto, service_port(number, port), port)
        for proto, number in (("TCP", TCP), ("UDP", UDP))
        for port in PORTS
    ]
    service: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc, "namespace": ns},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": [{"name": n, "protocol": p, "port": sp, "targetPort": tp}
                           for n, p, sp, tp in ports],
                 "selector": {"pod": name}},
    }  # fmt: skip
    endpoints: dict[str, object] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{svc}-1", "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [c.ip(key)], "conditions": {"ready": True},
                       "nodeName": c.nodes[key],
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": name}}],
        "ports": [{"name": n, "port": tp, "protocol": p} for n, p, _, tp in ports],
    }  # fmt: skip
    return [service, endpoints]


def cluster_objects(c: Cluster) -> list[dict[str, object]]:
    objects = [namespace_raw(ns, labels) for ns, labels in sorted(c.namespaces.items())]
    for key, pod in sorted(c.pods.items()):
        objects.append(pod_raw(pod))
        if c.via_service:
            objects += service_raws(c, key)
    objects += [c.raw_policies[k] for k in sorted(c.raw_policies)]
    return objects


# ---- the judge -----------------------------------------------------------------------------------

PROTO = {TCP: "tcp", UDP: "udp"}


class TrafficJudge:
    """Real probes, which must agree with the model over the same VPP; returns what the
    packets said."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.model: ModelVerdicts | None = None
        self.probes = 0
        self.retried = 0
        #: SCTP probes, answered by the model alone.
        self.model_only = 0

    def sync(self, c: Cluster) -> None:
        self.world.write(cluster_objects(c))
        self.model = self.world.snapshot_verdicts(c)

    def _probe(self, jobs: list[tuple[str, str, str, int, str]], allowed: list[bool]) -> list[str]:
        """(client key or "" for the node, proto, host, port, expected name) -> outcomes.

        A probe the model allows that got no answer is tried once more, for longer: the
        forwarder may lose a frame under the load of every pair at once, and a TCP
        retransmission takes a second. A probe the model denies is never tried again."""
        outcomes = self._send(jobs, TIMEOUT)
        again = [i for i, ok in enumerate(allowed) if ok and outcomes[i] == "TIMEOUT"]
        for i, outcome in zip(again, self._send([jobs[i] for i in again], 3.0), strict=True):
            outcomes[i] = outcome
        self.retried += len(again)
        return outcomes

    def _send(self, jobs: list[tuple[str, str, str, int, str]], timeout: float) -> list[str]:
        idents = []
        for client, proto, host, port, _ in jobs:
            ident = str(next(self.world.ids))
            self.world.helpers[client].submit(ident, proto, host, port, timeout)
            idents.append((client, ident))
        self.probes += len(jobs)
        return [self.world.helpers[client].result(ident) for client, ident in idents]

    def _traced(self, src: str, host: str, port: int, protocol: int) -> bool:
        """What ``contivpp trace --reply SRC HOST:PORT/PROTO`` says of the flow (its library
        entry points, in-process, over the same snapshot): request and reply delivered."""
        assert self.model is not None
        destination = f"{host}:{port}/{PROTO[protocol]}"
        request = trace.build_request(src, destination, node=NODE, reply=True)
        snapshots = list(self.model.dataplane.snapshots.values())
        return trace.exit_code(trace.run(request, snapshots)) == 0

    @staticmethod
    def _verdict(outcome: str, answerer: str, host: str, what: str) -> bool:
        if outcome == "TIMEOUT":
            return False
        # The answer comes from the pod (or node) meant, from the address the client used.
        assert outcome == f"CONNECTED {answerer} {host}", f"{what}: {outcome}"
        return True

    def verdicts(
        self, c: Cluster, pairs: list[tuple[str, str]], protocol: int, port: int
    ) -> dict[tuple[str, str], bool]:
        model = self.model
        assert model is not None, "sync first"
        expected = {(f, t): model.connect(c, f, t, protocol, port) for f, t in pairs}
        if protocol not in PROTO:  # SCTP: no sockets for it in the test host's kernel
            self.model_only += len(pairs)
            return expected
        jobs = []
        for frm, to in pairs:
            host, dport = model.destination(c, to, protocol, port)
            jobs.append((frm, PROTO[protocol], host, dport, to))
        outcomes = self._probe(jobs, [expected[pair] for pair in pairs])
        real = {
            pair: self._verdict(outcome, job[4], job[2], f"{pair[0]} -> {pair[1]}")
            for pair, job, outcome in zip(pairs, jobs, outcomes, strict=True)
        }
        traced = {
            pair: self._traced(c.ip(pair[0]), job[2], job[3], protocol)
            for pair, job in zip(pairs, jobs, strict=True)
        }
        disagree = [
            f"{f} -> {t}: model {expected[(f, t)]}, trace {traced[(f, t)]}, packets {real[(f, t)]}"
            for f, t in pairs
            if not expected[(f, t)] == traced[(f, t)] == real[(f, t)]
        ]
        assert not disagree, f"{PROTO[protocol]}/{port}:\n" + "\n".join(disagree)
        return real

    def host_verdicts(
        self, c: Cluster, pods: list[str], protocol: int, port: int
    ) -> dict[str, tuple[bool, bool]]:
        model = self.model
        assert model is not None, "sync first"
        expected = {pod: model.host_connects(c, pod, protocol, port) for pod in pods}
        if protocol not in PROTO:
            self.model_only += 2 * len(pods)
            return expected
        host = host_ip(NODE)
        jobs = [("", PROTO[protocol], c.ip(pod), port, pod) for pod in pods]
        jobs += [(pod, PROTO[protocol], host, port, "node") for pod in pods]
        allowed = [expected[pod][0] for pod in pods] + [expected[pod][1] for pod in pods]
        outcomes = self._probe(jobs, allowed)
        verdicts = [self._verdict(o, j[4], j[2], f"{j[0] or 'node'} -> {j[2]}")
                    for j, o in zip(jobs, outcomes, strict=True)]  # fmt: skip
        real = {pod: (verdicts[i], verdicts[len(pods) + i]) for i, pod in enumerate(pods)}
        assert real == expected, (real, expected)
        return real


# ---- the suite -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    work = Path(tempfile.mkdtemp(prefix="ctvpol-", dir="/tmp"))
    with EtcdServer() as etcd:
        w = World(work, etcd)
        try:
            w.start()
            yield w
        finally:
            w.close()
    if not os.environ.get("KEEP"):
        shutil.rmtree(work, ignore_errors=True)


#: Scenarios also run through ClusterIPs (NAT44-ED between the ACLs): one per rule shape,
#: the pod-IP run takes every scenario. All of them through ClusterIPs too would take about
#: twice the time (every check costs about 1.7 s: the denied probes wait out their timeout).
CLUSTER_IP_SCENARIOS = (
    "default_deny_all",
    "allow_from_pod_in_own_namespace",
    "allow_only_from_other_namespace",
    "ingress_ip_block_with_except",
    "egress_on_one_named_port",
    "udp_only_policy_does_not_allow_tcp",
)
CASES = [(name, False) for name in sorted(SCENARIOS)]
CASES += [(name, True) for name in CLUSTER_IP_SCENARIOS]


@pytest.mark.parametrize(
    ("name", "via_service"),
    CASES,
    ids=[f"{name}-{'cluster-ip' if svc else 'pod-ip'}" for name, svc in CASES],
)
def test_policy_scenario_with_real_packets(world: World, name: str, via_service: bool) -> None:
    judge = TrafficJudge(world)
    c = make_cluster(False, via_service, judge, addresses=world.address)
    SCENARIOS[name](c)
    assert c.checks > 0 and judge.probes > 0
