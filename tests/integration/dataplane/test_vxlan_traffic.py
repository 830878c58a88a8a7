"""Two simulators forward a pod's packets to the other node over a real UDP VXLAN socket.

Each node is programmed as the agent would program it, through the real descriptors (VPP and
the pod's Linux side) from an event log replayed by the controller: node-1 and node-2 with
IDs 1 and 2, one pod each in a real network namespace. The simulators run as processes with
``--linux-taps --vxlan-listen 127.0.0.1:P --vxlan-peer 192.168.16.N=127.0.0.1:Q``: the
tunnels' end points are the interconnect addresses 192.168.16.1 / .2, mapped to loopback UDP
ports. A pod on node-1 pings and connects to the pod on node-2; the trace over both VPPs
(``--peer``) says the same.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from services_matrix import CONFIG

from contivpp.demo import probe, start_server
from contivpp.events.log import read_lines
from contivpp.linux.descriptors import LinuxNeighborDescriptor, LinuxRouteDescriptor
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors

CLI = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def event_log(node: str, netns: str) -> list[str]:
    """node-1 and node-2 exist with IDs 1 and 2; one pod on ``node`` in ``netns``."""
    lines: list[dict[str, object]] = [
        {"config": CONFIG, "format": "contivpp-events/1", "node": node}
    ]
    for seq, n in enumerate((1, 2), 1):
        lines.append({"id": n, "name": f"node-{n}", "seq": seq, "ts": "2026-12-01T00:00:00Z",
                      "type": "node.id"})  # fmt: skip
    lines.append({"container_id": f"{node}-pod".ljust(64, "0"), "ifname": "eth0",
                  "netns": f"/var/run/netns/{netns}", "pod_name": f"pod-{node}",
                  "pod_namespace": "default", "seq": 3, "ts": "2026-12-01T00:00:00Z",
                  "type": "cni.add"})  # fmt: skip
    return [json.dumps(line) for line in lines]


class SimProcess:
    def __init__(self, work: Path, listen: int, peer_ip: str, peer_port: int) -> None:
        self.socket = work / "vpp.sock"
        self.log = (work / "vpp.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contivpp.vpp.sim", "--socket", str(self.socket),
             "--linux-taps", "--vxlan-listen", f"127.0.0.1:{listen}",
             "--vxlan-peer", f"{peer_ip}=127.0.0.1:{peer_port}"],
            stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        assert self.proc.wait(10) in (0, -15)
        self.log.close()


Nodes = list[tuple[SimProcess, str]]  # (simulator, pod netns), node-1 first


@pytest.fixture
async def nodes(root_workdir: Path) -> AsyncIterator[Nodes]:
    ports = [free_udp_port(), free_udp_port()]
    made: Nodes = []
    try:
        for n in (1, 2):
            work = root_workdir / f"node-{n}"
            work.mkdir()
            netns = f"ctvvx-{os.getpid()}-{n}"
            subprocess.run(["ip", "netns", "add", netns], check=True)
            peer = 2 if n == 1 else 1
            sim = SimProcess(work, ports[n - 1], f"192.168.16.{peer}", ports[peer - 1])
            made.append((sim, netns))
            loaded = read_lines(iter(event_log(f"node-{n}", netns)))
            desired: dict[Key, object] = dict((await replay(loaded)).desired)
            async with VPPClient(str(sim.socket), timeout=5, retry_interval=0.01) as client:
                descriptors = [*vpp_descriptors(client), LinuxRouteDescriptor(),
                               LinuxNeighborDescriptor()]  # fmt: skip
                sched = Scheduler(descriptors, retry=RetryPolicy(max_attempts=0))
                record = await sched.commit(desired, trigger="test")
                # Both simulators would own a host-side tap of the same name in this netns:
                # the second one's VPP-host link fails, which the pods do not need.
                failed = {str(k) for k in record.errors}
                assert all("vpp2" in k or "172.30" in k for k in failed), failed
        yield made
    finally:
        for sim, netns in made:
            sim.stop()
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def test_pod_to_pod_across_nodes_over_udp_vxlan(nodes: Nodes) -> None:
    (sim1, ns1), (sim2, ns2) = nodes
    server = start_server(ns2, "pod-node-2", 8080, 5353)
    try:
        assert probe(ns1, "icmp", "10.1.2.2", 0).startswith("CONNECTED 10.1.2.2")
        assert probe(ns1, "tcp", "10.1.2.2", 8080) == "CONNECTED HTTP/1.0 200 OK"
        assert probe(ns1, "udp", "10.1.2.2", 5353) == "CONNECTED pod-node-2 10.1.2.2"
    finally:
        server.terminate()
        server.wait(10)
        assert server.stdout is not None
        server.stdout.close()
    out = subprocess.run(
        [*CLI, "trace", "--vpp-socket", str(sim1.socket), "--node", "node-1", "--peer",
         f"node-2={sim2.socket}", "--json", "10.1.1.2", "10.1.2.2:8080"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    trace = json.loads(out.stdout)["outcome"]
    assert (trace["result"], trace["node"], trace["stage"]) == ("delivered", "node-2", "deliver")
    assert [h["stage"] for h in trace["hops"] if h["stage"] == "vxlan"] == ["vxlan", "vxlan"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vxlan-listen", "127.0.0.1"], "--vxlan-listen '127.0.0.1': expected IPv4-ADDRESS:PORT"),
        (["--vxlan-listen", "127.0.0.1:0"], "--vxlan-listen '127.0.0.1:0': port '0' is not in"),
        (["--vxlan-listen", "127.0.0.1:4789", "--vxlan-peer", "node-2"],
         "--vxlan-peer 'node-2': expected IP=HOST:PORT"),
    ],
)  # fmt: skip
def test_bad_vxlan_options_name_the_option(args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "contivpp.vpp.sim", "--socket", "/tmp/ctvvx-unused.sock", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_a_taken_vxlan_port_fails_the_start_cleanly(root_workdir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        sock = root_workdir / "vpp.sock"
        out = subprocess.run(
            [sys.executable, "-m", "contivpp.vpp.sim", "--socket", str(sock), "--linux-taps",
             "--vxlan-listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert out.returncode == 1
    logged = out.stdout + out.stderr  # vppsim.start_failed, one line
    assert f"--vxlan-listen 127.0.0.1:{port}: Address already in use" in logged
    assert "Traceback" not in logged
    assert not sock.exists()
