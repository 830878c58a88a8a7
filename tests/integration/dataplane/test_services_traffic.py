"""The services matrix with real sockets, on two simulators joined by real UDP VXLAN.

Each node is a ``contivpp vppsim --linux-taps`` process started inside its own "host" network
namespace (so each node has its own ``vpp1``, the Linux end of its host link), programmed
through the real descriptors (VPP and Linux) from its event log replayed by the controller,
with ``routeServiceCIDRToVPP`` on. The two hosts are joined by a veth pair that carries the
simulators' VXLAN UDP sockets. Pods are real network namespaces; servers in the backends (and
in node-1's host, the host-network endpoint at node-1's address) answer with their name and the
address they saw the client at.

Every row of ``services_matrix.ROWS`` that can run here is probed from the client's netns,
several connections per row. Each connection must agree with the model (``contivpp.dataplane``
over both simulators' snapshots, for the connection's own source port): the same backend, the
same source seen by it, dropped where it times out, rejected where the kernel reports
EHOSTUNREACH. The reply's source is checked by the kernel itself: TCP and connected UDP sockets
accept answers only from the address and port they dialled. The set of backends that answered
must be the row's set.

Not run here: the rows with a known gap (strict xfails of the model test), and the two rows
where node-1's host dials its own node address (the kernel delivers to its own address
locally; VPP never sees it). Their twins on VPP's end of the host link (also a NodePort
frontend) run.

The test network: each host routes the LB and external IP ranges and the other node's
address to its VPP (as a router in front of the cluster would send them to a node).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from services_matrix import (
    API_PORT,
    CONFIG,
    HOST_IPS,
    HOST_LINK_VPP,
    HOSTS,
    NODE_IPS,
    PODS,
    ROWS,
    TCP_PORT,
    UDP_PORT,
    Row,
    event_log,
    judge,
    snapshots_of,
)

from contivpp.dataplane import TCP, UDP, Dataplane, Packet, Snapshot
from contivpp.events.log import read_lines
from contivpp.linux.descriptors import LinuxNeighborDescriptor, LinuxRouteDescriptor
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.reconcile import Key, ResyncKind, RetryPolicy, Scheduler
from contivpp.renderers.node import HOST_TAP
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors

#: Connections per row with more than one backend: VPP (and the simulator) picks at random,
#: so 16 tries miss one of two backends with probability 2**-15.
TRIES = 16
SERVER = r"""
import socket, sys, threading
name, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", tcp_port)); s.listen(64)
    while True:
        c, peer = s.accept()
        c.sendall(f"{name} {peer[0]}".encode()); c.close()
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", udp_port))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(f"{name} {peer[0]}".encode(), peer)
threading.Thread(target=tcp, daemon=True).start()
if udp_port:
    threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""
#: ``PROBE tcp|udp HOST PORT COUNT TIMEOUT``: one line per connection, ``SPORT OUTCOME ...``:
#: OK NAME SEEN-SOURCE, TIMEOUT, REFUSED or ERROR ERRNO. Sockets are connected, so the kernel
#: accepts answers only from HOST:PORT.
PROBE = r"""
import socket, sys
proto, host = sys.argv[1], sys.argv[2]
port, count, timeout = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    if proto == "udp":  # report ICMP host unreachable too (not fatal for UDP otherwise)
        s.setsockopt(socket.SOL_IP, getattr(socket, "IP_RECVERR", 11), 1)
    s.bind(("0.0.0.0", 0))
    sport = s.getsockname()[1]
    try:
        s.connect((host, port))
        if proto == "udp":
            s.send(b"x")
        print(sport, "OK", s.recv(200).decode(), flush=True)
    except ConnectionRefusedError:
        print(sport, "REFUSED", flush=True)
    except (TimeoutError, socket.timeout):
        print(sport, "TIMEOUT", flush=True)
    except OSError as exc:
        print(sport, "ERROR", exc.errno, flush=True)
    finally:
        s.close()
"""
#: Rows the real network here cannot run (see the module docstring).
SKIP = {"nodeport-from-own-host", "etp-local-nodeport-local-endpoint"}
EHOSTUNREACH, ENETUNREACH = 113, 101


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@attrs.define
class Cluster:
    """The two nodes: host netns names, simulator sockets, pod netns names."""

    work: Path
    tag: str
    hosts: dict[str, str] = attrs.field(factory=dict)  # node -> host netns
    socks: dict[str, str] = attrs.field(factory=dict)  # node -> API socket
    pods: dict[str, str] = attrs.field(factory=dict)  # pod -> netns
    procs: list[subprocess.Popen[str]] = attrs.field(factory=list)
    made_netns: list[str] = attrs.field(factory=list)

    def netns(self, name: str) -> str:
        made = f"ctvst-{self.tag}-{name}"
        sh("ip", "netns", "add", made)
        self.made_netns.append(made)
        sh("ip", "-n", made, "link", "set", "lo", "up")
        return made

    def client_netns(self, row: Row) -> str:
        return self.hosts[row.node] if row.client in HOSTS else self.pods[row.client]

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if proc.stdout is not None:
                proc.stdout.close()
        for made in self.made_netns:
            subprocess.run(["ip", "netns", "del", made], capture_output=True)


def desired_of(node: str, cluster: Cluster, *, route_services: bool) -> dict[Key, object]:
    """What the agent of ``node`` would program; its host side lives in the node's host netns."""
    config = {**CONFIG, "routeServiceCIDRToVPP": True} if route_services else CONFIG
    lines = event_log(node, cluster.pods, config=config)
    result = asyncio.run(replay(read_lines(iter(lines))))
    assert not result.rejections, result.rejections
    host = f"/var/run/netns/{cluster.hosts[node]}"
    desired: dict[Key, object] = {}
    for key, value in result.desired.items():
        if isinstance(value, LinuxRoute | LinuxNeighbor) and not value.netns:
            value = attrs.evolve(value, netns=host)
        desired[key] = value
    return desired


async def commit(
    sock: str, desired: dict[Key, object], programmed: dict[Key, object] | None = None
) -> None:
    """Commit ``desired``; ``programmed``: what an earlier commit left (adopted by a resync
    first, as a restarted agent does)."""
    async with VPPClient(sock, timeout=5, retry_interval=0.01) as client:
        descriptors = [*vpp_descriptors(client), LinuxRouteDescriptor(), LinuxNeighborDescriptor()]
        sched = Scheduler(descriptors, retry=RetryPolicy(max_attempts=0))
        if programmed is not None:
            adopted = await sched.resync(ResyncKind.FULL, desired=programmed, trigger="test")
            assert adopted.ok and not adopted.calls, dict(adopted.errors)
        record = await sched.commit_full(desired, trigger="test")
        assert record.ok, dict(record.errors)


def start(argv: list[str], log: Path | None = None) -> subprocess.Popen[str]:
    if log is None:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with log.open("wb") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)


@pytest.fixture
def cluster(root_workdir: Path) -> Iterator[Cluster]:
    c = Cluster(root_workdir, str(os.getpid()))
    try:
        for pod in PODS:
            c.pods[pod] = c.netns(pod)
        for node in NODE_IPS:
            c.hosts[node] = c.netns(node[-1] + "h")
        # The underlay: a veth between the two hosts carries the VXLAN UDP sockets.
        underlay = {"node-1": "169.254.99.1", "node-2": "169.254.99.2"}
        veths = {"node-1": f"ctvsv{c.tag}a"[-15:], "node-2": f"ctvsv{c.tag}b"[-15:]}
        sh("ip", "link", "add", veths["node-1"], "netns", c.hosts["node-1"], "type", "veth",
           "peer", "name", veths["node-2"], "netns", c.hosts["node-2"])  # fmt: skip
        for node, ip in underlay.items():
            sh("ip", "-n", c.hosts[node], "addr", "add", f"{ip}/30", "dev", veths[node])
            sh("ip", "-n", c.hosts[node], "link", "set", veths[node], "up")
        ports = {n: free_port() for n in NODE_IPS}
        for node, other in (("node-1", "node-2"), ("node-2", "node-1")):
            sock = root_workdir / f"{node}.sock"
            c.socks[node] = str(sock)
            peer = f"192.168.16.{other[-1]}={underlay[other]}:{ports[other]}"
            c.procs.append(
                start(
                    ["ip", "netns", "exec", c.hosts[node], sys.executable, "-m",
                     "contivpp.vpp.sim", "--socket", str(sock), "--linux-taps",
                     "--vxlan-listen", f"{underlay[node]}:{ports[node]}", "--vxlan-peer", peer],
                    root_workdir / f"{node}.log",
                )
            )  # fmt: skip
            deadline = time.monotonic() + 20
            while not sock.exists():
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.02)
        for node in NODE_IPS:
            asyncio.run(commit(c.socks[node], desired_of(node, c, route_services=True)))
        # The host-network endpoint: node-1's address is its host's.
        sh("ip", "-n", c.hosts["node-1"], "addr", "add", f"{NODE_IPS['node-1']}/32", "dev", "lo")
        # The network in front of the cluster sends LB / external IPs (and the other node's
        # address) to a node.
        for node, other in (("node-1", "node-2"), ("node-2", "node-1")):
            for dst in ("203.0.113.0/24", "198.51.100.0/24", f"{NODE_IPS[other]}/32"):
                sh("ip", "-n", c.hosts[node], "route", "add", dst, "via", HOST_LINK_VPP[node])
        for pod in PODS:
            if not pod.startswith("c"):
                server = start(["ip", "netns", "exec", c.pods[pod], sys.executable, "-c",
                                SERVER, pod, str(TCP_PORT), str(UDP_PORT)])  # fmt: skip
                c.procs.append(server)
                assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        api = start(["ip", "netns", "exec", c.hosts["node-1"], sys.executable, "-c", SERVER,
                     "host-1", str(API_PORT), "0"])  # fmt: skip
        c.procs.append(api)
        assert api.stdout is not None and api.stdout.readline().strip() == "ready"
        yield c
    finally:
        c.close()


def probe(netns: str, row: Row, count: int, timeout: float) -> list[list[str]]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PROBE, row.proto, row.dst,
         str(row.port), str(count), str(timeout)],
        capture_output=True, text=True, timeout=count * timeout + 15,
    )  # fmt: skip
    lines = [line.split() for line in out.stdout.splitlines()]
    assert len(lines) == count, out.stderr
    return lines


def observed(line: list[str], client_ip: str) -> str:
    """The probe's outcome in the model's words: a backend (with what it saw), drop, reject."""
    if line[1] == "OK":
        seen = "client" if line[3] == client_ip else "masqueraded"
        return f"{line[2]} sees {seen}"
    if line[1] == "TIMEOUT":
        return "drop"
    if line[1:] == ["ERROR", str(EHOSTUNREACH)]:
        return "reject"
    return " ".join(line[1:])


def predicted(snaps: list[Snapshot], row: Row, sport: int, client_ip: str) -> str:
    """What the model says of the same connection (a fresh model: no earlier sessions)."""
    dp = Dataplane(snaps)
    ingress = HOST_TAP if row.client in HOSTS else None
    proto = UDP if row.proto == "udp" else TCP
    request = dp.send(Packet(client_ip, row.dst, proto, sport, row.port), node=row.node,
                      ingress=ingress)  # fmt: skip
    verdict = judge(row, request)
    if verdict in ("drop", "reject") or verdict.startswith("?"):
        return verdict
    reply = dp.reply(request)
    if (reply.packet.src, reply.packet.sport, reply.packet.dst) != (row.dst, row.port, client_ip):
        return f"{verdict}, answered from {reply.packet.src}:{reply.packet.sport}"
    seen = "client" if request.packet.src == client_ip else "masqueraded"
    return f"{verdict} sees {seen}"


def test_services_matrix_with_real_traffic(cluster: Cluster) -> None:
    snaps = asyncio.run(snapshots_of(cluster.socks))
    failures: list[str] = []
    ran = 0
    for row in ROWS:
        if row.gap or row.name in SKIP:
            continue
        ran += 1
        client_ip = HOST_IPS[row.node] if row.client in HOSTS else PODS[row.client][1]
        count = TRIES if len(row.backends) > 1 else 2
        lines = probe(cluster.client_netns(row), row, count, 1.0 if row.refused else 2.0)
        answered: set[str] = set()
        for line in lines:
            real, model = observed(line, client_ip), predicted(snaps, row, int(line[0]), client_ip)
            if real != model:
                failures.append(f"{row.name} port {line[0]}: real {real!r}, model {model!r}")
            if line[1] == "OK":
                answered.add(line[2])
        want = "drop" if row.refused == "drop" else "reject" if row.refused else ""
        if answered != set(row.backends):
            failures.append(f"{row.name}: backends {sorted(answered)}, row {sorted(row.backends)}")
        if want and not all(observed(line, client_ip) == want for line in lines):
            failures.append(f"{row.name}: expected every connection {want}: {lines}")
        if row.backends and any(
            not observed(line, client_ip).endswith(f"sees {row.sees}") for line in lines
        ):
            failures.append(f"{row.name}: backends should see the source {row.sees}: {lines}")
    assert ran == len(ROWS) - 3  # one gap, two skipped
    assert not failures, "\n".join(failures)


def test_without_route_service_cidr_to_vpp_the_host_cannot_reach_a_cluster_ip(
    cluster: Cluster,
) -> None:
    row = next(r for r in ROWS if r.name == "clusterip-from-own-host")
    (line,) = probe(cluster.client_netns(row), row, 1, 2.0)
    assert line[1] == "OK", line
    before = desired_of("node-1", cluster, route_services=True)
    after = desired_of("node-1", cluster, route_services=False)
    assert set(before) - set(after) == {"linux/route/host/10.96.0.0/12"}
    asyncio.run(commit(cluster.socks["node-1"], after, programmed=before))
    # No route for the service CIDR (and no default route in this host): unreachable at once.
    (line,) = probe(cluster.client_netns(row), row, 1, 2.0)
    assert line[1:] == ["ERROR", str(ENETUNREACH)], line
