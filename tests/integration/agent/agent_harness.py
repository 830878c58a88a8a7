"""A whole node for tests: etcd, a VPP simulator process with real Linux taps, the agent
in-process, and pods in real network namespaces wired by executing ``contivpp-cni``.

Test modules import these helpers by this name, not from ``conftest``: that name is
ambiguous when several test folders run in one session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from contivpp.agent.run import Agent
from contivpp.agent.settings import AgentSettings, settings_from_mapping
from contivpp.vpp.client import VPPClient
from etcd_server import EtcdServer

PLUGIN = shutil.which("contivpp-cni", path=str(Path(sys.executable).parent)) or "contivpp-cni"


class VppSim:
    """``contivpp vppsim --linux-taps`` as its own process (it forks for netns work, which a
    process running gRPC threads must not do)."""

    def __init__(self, socket: Path, *, linux_taps: bool = True) -> None:
        self.socket = socket
        self.linux_taps = linux_taps
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning", "vppsim",
               "--socket", str(self.socket)]  # fmt: skip
        if self.linux_taps:
            cmd.append("--linux-taps")
        self.log = open(self.socket.with_suffix(".log"), "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stderr=self.log)
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            code = self.proc.wait(10)
            self.proc = None
            self.log.close()
            # -15 is our SIGTERM; anything else means the simulator died under the test.
            assert code in (0, -15), f"simulator exited with {code}"
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()


class Node:
    """One agent (in-process task) with its simulator and settings."""

    def __init__(self, name: str, work: Path, etcd: EtcdServer, *, linux_taps: bool = True) -> None:
        self.name = name
        self.work = work
        self.sim = VppSim(work / "vpp.sock", linux_taps=linux_taps)
        self.cni_socket = work / "cni.sock"
        self.settings: AgentSettings = settings_from_mapping(
            {
                "nodeName": name,
                "etcdEndpoints": [f"{etcd.host}:{etcd.port}"],
                "vppSocket": str(self.sim.socket),
                "cniSocket": str(self.cni_socket),
                "cniGrpcSocket": str(work / "cni-grpc.sock"),
                "httpAddress": "127.0.0.1:0",
                "stateDir": str(work / "state"),
                "eventLog": {"directory": str(work / "events")},
                "cniTimeoutSeconds": 20,
            }
        )
        self.agent: Agent | None = None
        self.task: asyncio.Task[None] | None = None

    async def start_agent(self) -> Agent:
        self.agent = Agent(self.settings)
        self.task = asyncio.create_task(self.agent.run())
        waiter = asyncio.create_task(self.agent.started.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=30, return_when="FIRST_COMPLETED")
        if self.task in done:
            self.task.result()  # raises the agent's error
        assert waiter in done, "agent did not become ready"
        return self.agent

    async def stop_agent(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def vpp_view(self) -> dict[str, object]:
        """VPP's full state by names (indexes renumber across restarts)."""
        async with VPPClient(str(self.sim.socket), name="test-view") as client:
            ifaces = await client.dump("sw_interface_dump")
            names = {int(i.sw_if_index): str(i.tag or i.interface_name) for i in ifaces}
            interfaces = sorted(
                (names[int(i.sw_if_index)], str(i.l2_address), int(i.flags)) for i in ifaces
            )
            routes = set()
            for t in {int(t.table["table_id"]) for t in await client.dump("ip_table_dump")}:
                for r in await client.dump("ip_route_dump", table={"table_id": t}):
                    for p in r.route["paths"]:
                        dev = names.get(int(p["sw_if_index"]), "")
                        via = str(p["nh"]["address"]["ip4"])
                        routes.add((t, str(r.route["prefix"]), via, dev, int(p["type"])))
            arp = sorted(
                (names.get(int(n.neighbor["sw_if_index"]), ""), str(n.neighbor["ip_address"]),
                 str(n.neighbor["mac_address"]))
                for n in await client.dump("ip_neighbor_dump", sw_if_index=0xFFFFFFFF, af=0)
            )  # fmt: skip
            vxlan = sorted(
                (str(v.src_address), str(v.dst_address), int(v.vni))
                for v in await client.dump("vxlan_tunnel_v2_dump", sw_if_index=0xFFFFFFFF)
            )
        return {"interfaces": interfaces, "routes": sorted(routes), "arp": arp, "vxlan": vxlan}


class Pod:
    def __init__(self, node: Node, name: str, namespace: str = "default") -> None:
        self.node = node
        self.name = name
        self.namespace = namespace
        self.netns_name = f"ctv-{uuid.uuid4().hex[:10]}"
        self.netns = f"/var/run/netns/{self.netns_name}"
        self.container_id = uuid.uuid4().hex + uuid.uuid4().hex

    def create_netns(self) -> None:
        subprocess.run(["ip", "netns", "add", self.netns_name], check=True)

    def delete_netns(self) -> None:
        subprocess.run(["ip", "netns", "del", self.netns_name], capture_output=True)

    async def cni(
        self, command: str, extra: dict[str, object] | None = None
    ) -> tuple[int, dict[str, object]]:
        env = {
            "PATH": os.environ["PATH"],
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": "/opt/cni/bin",
            "CNI_ARGS": (
                f"IgnoreUnknown=1;K8S_POD_NAMESPACE={self.namespace};K8S_POD_NAME={self.name}"
            ),
        }
        conf: dict[str, object] = {
            "cniVersion": "1.0.0",
            "name": "k8s-pod-network",
            "type": "contivpp-cni",
            "agentSocket": str(self.node.cni_socket),
        }
        conf.update(extra or {})
        proc = await asyncio.create_subprocess_exec(
            PLUGIN, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate(json.dumps(conf).encode())
        assert proc.returncode is not None
        return proc.returncode, (json.loads(out) if out else {})

    def ip(self, *args: str) -> str:
        return subprocess.run(
            ["ip", "-n", self.netns_name, *args], capture_output=True, text=True, check=True
        ).stdout
