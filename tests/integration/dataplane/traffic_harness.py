"""Real traffic between pods: Kubernetes objects as the KSR writes them, and a probe.

The pods are the agent tests' (``agent_harness``: a simulator with real taps, the agent, CNI);
this module adds what a traffic test needs on top: Pod / Service / EndpointSlice /
NetworkPolicy objects put in etcd under the KSR's keys, servers started in a pod's netns, and
:func:`probe`, a tiny agnhost-like client (``connect`` / ``ping`` / ``http``) run with
``ip netns exec``, whose one-line verdict the tests compare with ``contivpp trace``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Mapping

from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object

#: The probe: ``PROBE tcp|udp|icmp HOST PORT`` prints CONNECTED / REFUSED / TIMEOUT (agnhost
#: connect's outcomes) or UNREACHABLE CODE SOURCE; udp sends one datagram and waits for the
#: echo; icmp sends echo requests from a raw socket (no ping binary needed).
PROBE = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
try:
    if proto == "icmp":
        # ping without iputils: a raw socket (root), echo id = our pid, 3 tries
        import os, struct, time
        def csum(b):
            b += b"\0" * (len(b) % 2)
            t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
            t = (t & 0xFFFF) + (t >> 16)
            return ~((t & 0xFFFF) + (t >> 16)) & 0xFFFF
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        s.settimeout(timeout / 3)
        ident = os.getpid() & 0xFFFF
        for seq in range(3):
            body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"contivpp"
            s.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (host, 0))
            end = time.monotonic() + timeout / 3
            try:
                while time.monotonic() < end:
                    data, peer = s.recvfrom(1500)
                    icmp = data[(data[0] & 15) * 4:]
                    if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                        print("CONNECTED", peer[0])
                        sys.exit(0)
                    if icmp[0] == 3:
                        print("UNREACHABLE", icmp[1], peer[0])
                        sys.exit(0)
            except socket.timeout:
                pass
        print("TIMEOUT")
    elif proto == "tcp":
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        print("CONNECTED", line)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.sendto(b"ping", (host, port))
        data, peer = s.recvfrom(100)
        print("CONNECTED", data.decode(), peer[0])
except ConnectionRefusedError:
    print("REFUSED")
except (TimeoutError, socket.timeout):
    print("TIMEOUT")
except OSError as exc:
    print("ERROR", exc.errno)
"""

#: An HTTP server answering its pod's name, and a UDP echo server: ``SERVER NAME TCP UDP``.
SERVER = r"""
import http.server, socket, socketserver, sys, threading
name, tcp_port, udp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", udp_port))
    while True:
        data, peer = s.recvfrom(100)
        s.sendto(name.encode(), peer)
threading.Thread(target=udp, daemon=True).start()
socketserver.TCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("0.0.0.0", tcp_port), Handler) as server:
    print("ready", flush=True)
    server.serve_forever()
"""


def probe(netns: str, proto: str, host: str, port: int, timeout: float = 2.0) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", PROBE, proto, host, str(port),
         str(timeout)],
        capture_output=True, text=True, timeout=timeout + 10,
    )  # fmt: skip
    return out.stdout.strip() or f"ERROR {out.stderr.strip()[-200:]}"


def ping(netns: str, host: str) -> bool:
    """True when an ICMP echo from the pod got its reply (real packets, raw socket)."""
    return probe(netns, "icmp", host, 0).startswith("CONNECTED")


def start_server(netns: str, name: str, tcp_port: int, udp_port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-u", "-c", SERVER, name, str(tcp_port),
         str(udp_port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", "server did not start"
    return proc


def pod_object(
    name: str, node: str, ip: str, labels: Mapping[str, str], port: int = 8080
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels),
                     "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name))},
        "spec": {"nodeName": node, "containers": [
            {"name": "main", "ports": [{"containerPort": port, "protocol": "TCP"}]}]},
        "status": {"podIP": ip},
    }  # fmt: skip


def service_objects(
    name: str, cluster_ip: str, port: int, target_port: int, backends: Mapping[str, str], node: str
) -> list[dict[str, object]]:
    """A ClusterIP Service and its EndpointSlice (backend pod name -> IP)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": [{"name": "http", "protocol": "TCP", "port": port,
                            "targetPort": target_port}],
                 "selector": {"app": name}},
    }  # fmt: skip
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-1", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": True}, "nodeName": node,
             "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
            for pod, ip in sorted(backends.items())
        ],
        "ports": [{"name": "http", "port": target_port, "protocol": "TCP"}],
    }  # fmt: skip
    return [service, endpoints]


def policy_object(
    name: str, selector: Mapping[str, str], ingress: list[dict[str, object]]
) -> dict[str, object]:
    """An ingress NetworkPolicy; ``ingress=[]`` denies everything to the selected pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"podSelector": {"matchLabels": dict(selector)}, "policyTypes": ["Ingress"],
                 "ingress": ingress},
    }  # fmt: skip


async def put_objects(endpoint: tuple[str, int], objects: list[dict[str, object]]) -> None:
    """Write objects under the KSR's keys, as the KSR reflects them."""
    async with EtcdStore([endpoint]) as store:
        for raw in objects:
            encoded = encode_object(raw)
            await store.put(encoded.key, encoded.value)


async def eventually(check: object, what: str, timeout: float = 20.0) -> None:
    """Await ``check()`` (sync, run in a thread) until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.3)
