"""``contivpp demo``: the whole node on one machine, end to end, then cleaned up.

Starts a VPP simulator with real Linux taps, a throwaway etcd (Debian's etcd-server) and an
agent, each as its own process; creates three pods in real network namespaces by executing
``contivpp-cni`` exactly as kubelet would; prints what each pod got (``ip addr`` / ``ip
route`` / ``ip neigh`` inside its netns) and what VPP holds (interfaces, routes, ARP) as
tables; then deletes the pods through CNI and stops everything it started.
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
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from contivpp.vpp.client import VPPClient

PODS = ("web-0", "web-1", "db-0")


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


@contextlib.contextmanager
def local_node(work: Path) -> Iterator[LocalNode]:
    """etcd + VPP simulator (real taps) + agent, each its own process, stopped on exit."""
    vpp_socket, cni_socket = work / "vpp-api.sock", work / "cni.sock"
    client_port, peer_port, http_port = _free_port(), _free_port(), _free_port()
    config = {
        "nodeName": "demo-node",
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
        yield LocalNode(work, vpp_socket, cni_socket, http_port)


def run_demo() -> int:
    if os.geteuid() != 0:
        print("contivpp demo needs root (network namespaces and taps)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="contivpp-demo-"))
    netns_names = [f"contivpp-demo-{pod}" for pod in PODS]
    try:
        print(f"starting etcd, the VPP simulator (real taps) and the agent in {work}")
        with local_node(work) as node:
            print("agent ready\n")
            for pod, ns in zip(PODS, netns_names, strict=True):
                subprocess.run(["ip", "netns", "add", ns], check=True)
                result = cni("ADD", node.cni_socket, pod, f"/var/run/netns/{ns}")
                ips = result.get("ips", [])
                print(f"CNI ADD default/{pod}: {ips[0]['address'] if ips else '?'}")  # type: ignore[index]
            for pod, ns in zip(PODS, netns_names, strict=True):
                print(f"\n=== pod default/{pod} (netns {ns})")
                for args in (["addr", "show", "eth0"], ["route"], ["neigh"]):
                    out = subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True)
                    print(f"$ ip {' '.join(args)}\n{out.stdout.rstrip()}")
            print()
            print(asyncio.run(_vpp_tables(node.vpp_socket)))
            print("\ndeleting the pods through CNI DEL")
            for pod, ns in zip(PODS, netns_names, strict=True):
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
        for ns in netns_names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
