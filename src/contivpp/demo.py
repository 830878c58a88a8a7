"""``contivpp demo``: the whole node on one machine, end to end, with real traffic, then cleaned up.

Starts a VPP simulator with real Linux taps (which forwards what the pods send), a throwaway
etcd (Debian's etcd-server) and an agent, each as its own process; creates three pods in real
network namespaces by executing ``contivpp-cni`` exactly as kubelet would; prints what each pod
got and what VPP holds. Then, feeding Kubernetes objects to the agent through etcd the way the
KSR does: a ClusterIP service over the two web pods (its NAT44 mappings printed), real traffic
(a ping between pods, HTTP to the ClusterIP answered by a server in a web pod's netns), a
deny-all policy plus an allow rule for the web pods (the ACLs and the interfaces carrying them
printed), the same request failing, and ``contivpp trace`` explaining why. It deletes the pods
through CNI and stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs

from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.acl import decode_rule

PODS = ("web-0", "web-1", "db-0")
NODE = "demo-node"
LABELS = {"web-0": {"app": "web"}, "web-1": {"app": "web"}, "db-0": {"app": "db"}}
CLUSTER_IP = "10.96.0.10"
#: The HTTP (TCP) and UDP echo ports the servers in the web pods listen on.
HTTP_PORT, UDP_PORT = 8080, 5353


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def _process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _etcd_argv(data: Path, client_port: int, peer_port: int) -> list[str]:
    etcd = shutil.which("etcd") or "/usr/bin/etcd"
    return [
        etcd, "--name", "demo", "--data-dir", str(data),
        "--listen-client-urls", f"http://127.0.0.1:{client_port}",
        "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
        "--initial-cluster", f"demo=http://127.0.0.1:{peer_port}",
    ]  # fmt: skip


def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def cni(command: str, socket_path: Path, pod: str, netns: str) -> dict[str, object]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": hashlib.sha256(f"demo/{pod}".encode()).hexdigest(),
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod}",
    }
    conf = {"cniVersion": "1.0.0", "name": "k8s-pod-network", "type": "contivpp-cni",
            "agentSocket": str(socket_path)}  # fmt: skip
    plugin = shutil.which("contivpp-cni", path=str(Path(sys.executable).parent)) or "contivpp-cni"
    proc = subprocess.run(
        [plugin], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=60
    )
    if proc.returncode != 0:
        raise RuntimeError(f"CNI {command} {pod} failed: {proc.stdout.decode()}")
    return json.loads(proc.stdout) if proc.stdout else {}


# ---- real traffic: a probe, servers, and Kubernetes objects as the KSR writes them ----------

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
    service: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ports": [{"name": "http", "protocol": "TCP", "port": port,
                            "targetPort": target_port}],
                 "selector": {"app": name}},
    }  # fmt: skip
    endpoints: dict[str, object] = {
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


def _table(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


async def _vpp_tables(socket_path: Path) -> str:
    async with VPPClient(str(socket_path), name="contivpp-demo") as client:
        ifaces = await client.dump("sw_interface_dump")
        names = {int(i.sw_if_index): str(i.tag or i.interface_name) for i in ifaces}
        if_rows = [
            (str(i.sw_if_index), str(i.tag or i.interface_name), str(i.interface_name),
             "up" if int(i.flags) & 1 else "down", str(i.l2_address))
            for i in ifaces
        ]  # fmt: skip
        route_rows = []
        table_ids = sorted({int(t.table["table_id"]) for t in await client.dump("ip_table_dump")})
        for table_id in table_ids:
            for route in await client.dump("ip_route_dump", table={"table_id": table_id}):
                r = route.route
                for path in r["paths"]:
                    kind = {1: "local", 2: "drop"}.get(int(path["type"]), "")
                    via = str(path["nh"]["address"]["ip4"])
                    if via == "0.0.0.0":
                        # no next hop: a drop/local path, a lookup in another table, or attached
                        lookup = int(path["sw_if_index"]) == 0xFFFFFFFF
                        via = kind or (f"lookup in table {path['table_id']}" if lookup else "")
                    dev = names.get(int(path["sw_if_index"]), "")
                    route_rows.append((str(table_id), str(r["prefix"]), via or "-", dev or "-"))
        arp_rows = [
            (names.get(int(n.neighbor["sw_if_index"]), "?"), str(n.neighbor["ip_address"]),
             str(n.neighbor["mac_address"]))
            for n in await client.dump("ip_neighbor_dump", sw_if_index=0xFFFFFFFF, af=0)
        ]  # fmt: skip
    return "\n\n".join(
        [
            _table("VPP interfaces", ("IDX", "NAME (TAG)", "VPP NAME", "STATE", "MAC"), if_rows),
            _table("VPP routes", ("VRF", "PREFIX", "VIA", "DEV"), route_rows),
            _table("VPP ARP", ("INTERFACE", "IP", "MAC"), arp_rows),
        ]
    )


@attrs.frozen
class LocalNode:
    """A running node: the sockets a kubelet-like caller needs."""

    work: Path
    vpp_socket: Path
    cni_socket: Path
    http_port: int
    etcd_port: int


@contextlib.contextmanager
def local_node(work: Path) -> Iterator[LocalNode]:
    """etcd + VPP simulator (real taps) + agent, each its own process, stopped on exit."""
    vpp_socket, cni_socket = work / "vpp-api.sock", work / "cni.sock"
    client_port, peer_port, http_port = _free_port(), _free_port(), _free_port()
    config = {
        "nodeName": NODE,
        "etcdEndpoints": [f"127.0.0.1:{client_port}"],
        "vppSocket": str(vpp_socket),
        "cniSocket": str(cni_socket),
        "cniGrpcSocket": "",
        "httpAddress": f"127.0.0.1:{http_port}",
        "stateDir": str(work / "state"),
        "eventLog": {"directory": str(work / "events")},
    }
    (work / "agent.yaml").write_text(json.dumps(config))
    contivpp = [sys.executable, "-m", "contivpp.cli", "--log-format", "json"]
    etcd = _etcd_argv(work / "etcd", client_port, peer_port)
    vppsim = [*contivpp, "vppsim", "--socket", str(vpp_socket), "--linux-taps"]
    agent = [*contivpp, "agent", "--config", str(work / "agent.yaml")]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_process(etcd, work / "etcd.log"))
        stack.enter_context(_process(vppsim, work / "vppsim.log"))
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{client_port}/health"), "etcd")
        _wait_for(vpp_socket.exists, "the VPP simulator")
        stack.enter_context(_process(agent, work / "agent.log"))
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{http_port}/readyz"), "the agent", 60)
        yield LocalNode(work, vpp_socket, cni_socket, http_port, client_port)


async def _nat_tables(socket_path: Path) -> str:
    async with VPPClient(str(socket_path), name="contivpp-demo") as client:
        lbs = await client.dump("nat44_lb_static_mapping_dump")
        statics = await client.dump("nat44_static_mapping_dump")
    protocols = {6: "tcp", 17: "udp", 1: "icmp", 0: "any"}
    rows = [
        (f"{m.external_addr}:{m.external_port}", protocols.get(int(m.protocol), str(m.protocol)),
         ", ".join(f"{x['addr']}:{x['port']} (weight {x['probability']})" for x in m.locals),
         _twice_nat(int(m.flags)), m.tag)
        for m in lbs
    ]  # fmt: skip
    rows += [
        (f"{m.external_ip_address}:{m.external_port}",
         protocols.get(int(m.protocol), str(m.protocol)),
         f"{m.local_ip_address}:{m.local_port}", _twice_nat(int(m.flags)), m.tag)
        for m in statics
    ]  # fmt: skip
    header = ("EXTERNAL", "PROTO", "BACKENDS", "TWICE-NAT", "TAG")
    return _table("VPP NAT44 static and load-balancing mappings", header, rows)


def _twice_nat(flags: int) -> str:
    from contivpp.vpp.descriptors.nat44 import twice_nat_of

    return twice_nat_of(flags)


async def _acl_tables(socket_path: Path) -> str:
    async with VPPClient(str(socket_path), name="contivpp-demo") as client:
        acls = await client.dump("acl_dump", acl_index=0xFFFFFFFF)
        lists = await client.dump("acl_interface_list_dump", sw_if_index=0xFFFFFFFF)
        ifaces = await client.dump("sw_interface_dump")
    names = {int(i.sw_if_index): str(i.tag or i.interface_name) for i in ifaces}
    tags = {int(a.acl_index): a.tag or f"acl-{a.acl_index}" for a in acls}
    acl_rows = []
    for acl in acls:
        for number, raw in enumerate(acl.r):
            rule = decode_rule(raw)
            ports = rule.dst_ports
            dport = "" if (ports.first, ports.last) == (0, 65535) else f"{ports.first}-{ports.last}"
            acl_rows.append(
                (str(acl.acl_index), tags[int(acl.acl_index)], str(number), rule.action,
                 rule.src_network or "any", rule.dst_network or "any", str(rule.protocol), dport)
            )  # fmt: skip
    binding_rows = []
    for d in lists:
        indices = [int(i) for i in d.acls[: d.count]]
        if indices:
            binding_rows.append(
                (names.get(int(d.sw_if_index), str(d.sw_if_index)),
                 ", ".join(tags.get(i, str(i)) for i in indices[: d.n_input]) or "-",
                 ", ".join(tags.get(i, str(i)) for i in indices[d.n_input :]) or "-")
            )  # fmt: skip
    return "\n\n".join(
        [
            _table(
                "VPP ACLs",
                ("IDX", "TAG", "RULE", "ACTION", "SRC", "DST", "PROTO", "DPORT"),
                acl_rows,
            ),
            _table("Interfaces carrying ACLs", ("INTERFACE", "INPUT", "OUTPUT"), binding_rows),
        ]
    )


def _trace(node: LocalNode, source: str, destination: str) -> str:
    argv = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning", "trace",
            "--vpp-socket", str(node.vpp_socket), "--state-dir", str(node.work / "state"),
            "--node", NODE, source, destination]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return f"$ contivpp trace {source} {destination}\n{out.stdout.rstrip()}{out.stderr.rstrip()}"


def _netctl(node: LocalNode, *args: str) -> str:
    argv = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning", "netctl",
            "--etcd-endpoints", f"127.0.0.1:{node.etcd_port}", "--node-name", NODE,
            "--agent-port", str(node.http_port), *args]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return f"$ contivpp netctl {' '.join(args)}\n{out.stdout.rstrip()}{out.stderr.rstrip()}"


def _traffic(node: LocalNode, ips: Mapping[str, str], netns: Mapping[str, str]) -> None:
    etcd = ("127.0.0.1", node.etcd_port)
    web = {pod: ips[pod] for pod in ("web-0", "web-1")}
    asyncio.run(put_objects(etcd, [pod_object(p, NODE, ips[p], LABELS[p]) for p in PODS]))
    print(f"\n=== a ClusterIP service default/web {CLUSTER_IP}:80 -> web-0, web-1 :{HTTP_PORT}")
    asyncio.run(put_objects(etcd, service_objects("web", CLUSTER_IP, 80, HTTP_PORT, web, NODE)))
    client = netns["db-0"]

    def http_ok() -> bool:
        return probe(client, "tcp", CLUSTER_IP, 80, 1.0).startswith("CONNECTED")

    _wait_for(http_ok, "the service to answer")
    print(asyncio.run(_nat_tables(node.vpp_socket)))
    print("\n=== real traffic from db-0 (raw-socket ping; a TCP client, as agnhost connect)")
    print(f"ping web-0 {ips['web-0']}: {probe(client, 'icmp', ips['web-0'], 0)}")
    for _ in range(2):
        print(f"HTTP {CLUSTER_IP}:80: {probe(client, 'tcp', CLUSTER_IP, 80)}")
    print(f"UDP web-1 {ips['web-1']}:{UDP_PORT}: {probe(client, 'udp', ips['web-1'], UDP_PORT)}")

    print("\n=== NetworkPolicies: web pods deny all ingress, except from app=web on tcp/8080")
    allow = [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
              "ports": [{"protocol": "TCP", "port": HTTP_PORT}]}]  # fmt: skip
    asyncio.run(
        put_objects(
            etcd,
            [
                policy_object("web-deny-all", {"app": "web"}, []),
                policy_object("web-allow-web", {"app": "web"}, allow),
            ],
        )
    )
    _wait_for(lambda: not http_ok(), "the policy to apply")
    print(asyncio.run(_acl_tables(node.vpp_socket)))
    print(f"\nHTTP {CLUSTER_IP}:80 from db-0: {probe(client, 'tcp', CLUSTER_IP, 80)}  (denied)")
    print(
        f"HTTP web-0 {ips['web-0']}:{HTTP_PORT} from web-1: "
        f"{probe(netns['web-1'], 'tcp', ips['web-0'], HTTP_PORT)}  (allowed)"
    )
    print("\n" + _trace(node, "default/db-0", f"{CLUSTER_IP}:80"))


def run_demo() -> int:
    if os.geteuid() != 0:
        print("contivpp demo needs root (network namespaces and taps)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="contivpp-demo-"))
    netns_names = {pod: f"contivpp-demo-{pod}" for pod in PODS}
    servers: list[subprocess.Popen[str]] = []
    try:
        print(f"starting etcd, the VPP simulator (real taps) and the agent in {work}")
        with local_node(work) as node:
            print("agent ready\n")
            ips = {}
            for pod, ns in netns_names.items():
                subprocess.run(["ip", "netns", "add", ns], check=True)
                result = cni("ADD", node.cni_socket, pod, f"/var/run/netns/{ns}")
                ips[pod] = str(result["ips"][0]["address"]).split("/")[0]  # type: ignore[index]
                print(f"CNI ADD default/{pod}: {ips[pod]}")
            for pod, ns in netns_names.items():
                print(f"\n=== pod default/{pod} (netns {ns})")
                for args in (["addr", "show", "eth0"], ["route"], ["neigh"]):
                    out = subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True)
                    print(f"$ ip {' '.join(args)}\n{out.stdout.rstrip()}")
            print()
            print(asyncio.run(_vpp_tables(node.vpp_socket)))
            for pod in ("web-0", "web-1"):
                servers.append(start_server(netns_names[pod], pod, HTTP_PORT, UDP_PORT))
            _traffic(node, ips, netns_names)
            print("\n" + _netctl(node, "pods"))
            print("\n" + _netctl(node, "txn-history", "--last", "3"))
            print("\ndeleting the pods through CNI DEL")
            for pod, ns in netns_names.items():
                cni("DEL", node.cni_socket, pod, f"/var/run/netns/{ns}")
        return 0
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        for name in ("agent.log", "vppsim.log"):
            path = work / name
            if path.exists():
                print(f"--- last lines of {name}", file=sys.stderr)
                print(
                    "\n".join(path.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr
                )
        return 1
    finally:
        for server in servers:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(5)
            if server.stdout is not None:
                server.stdout.close()
        for ns in netns_names.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
