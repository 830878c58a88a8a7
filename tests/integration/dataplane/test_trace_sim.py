"""The forwarding model over a simulator programmed by the real descriptors, read back over the
binary API only: the node of ``examples/three-pods.jsonl`` (pods web-0 10.1.1.2, db-0 10.1.1.4,
web-1 10.1.1.5) plus a service and a policy like Contiv renders them:

- service 10.96.0.10:80/tcp -> web-0, web-1 :8080 (LB mapping, self-twice-NAT), every pod
  TAP inside and outside;
- db-0 accepts only web-0 on tcp/5432 (output ACL on its TAP) and reflects on input.

Then ``contivpp trace`` itself, as a process, against the same simulator.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from contivpp.dataplane import TCP, Dataplane, Packet, read_snapshot
from contivpp.events.log import read_lines
from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface, AclRule, PortRange
from contivpp.model.nat import (
    Nat44AddressPool,
    Nat44Global,
    Nat44IdentityMapping,
    Nat44Interface,
    Nat44LbLocal,
    Nat44LbStaticMapping,
)
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.renderers.pods import tap_name
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.sim import Simulator

EXAMPLE = Path(__file__).parents[3] / "examples" / "three-pods.jsonl"
CLI = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning"]
WEB0, DB, WEB1 = "10.1.1.2", "10.1.1.4", "10.1.1.5"
CONTAINERS = {
    "web-0": "c785551b78e8121e0e6ff22b61e099b29d4b8434bc038b2a8e928f7b34c49afa",
    "db-0": "f268a386e30fb32d729ecc5ba6917738c4eadb896f8979feb401ba08afdfb910",
    "web-1": "4c44d426fb09918e130c9e8d30075ebe9294625bb23bfb36dfad351fafdf6c8d",
}


#: The programmed simulator's socket, pod name -> TAP name, and the simulator itself.
Programmed = tuple[str, dict[str, str], Simulator]


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Unix socket paths are limited to 107 bytes: stay out of pytest's deep tmp_path.
    path = Path(tempfile.mkdtemp(prefix="trace-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def programmed(workdir: Path) -> AsyncIterator[Programmed]:
    """A simulator holding the example node plus service and policy; yields its socket and
    pod name -> TAP name."""
    sock = str(workdir / "api.sock")
    sim = Simulator(seed=7)
    await sim.start(sock)
    try:
        result = await replay(read_lines(iter(EXAMPLE.read_text().splitlines())))
        desired: dict[Key, object] = {
            k: v for k, v in result.desired.items() if k.startswith("vpp/")
        }
        taps = {
            ip: route.out_interface  # type: ignore[attr-defined]
            for k, route in desired.items()
            if k.startswith(keys.ROUTE_PREFIX)
            and (ip := k.split("/")[5]) in (WEB0, DB, WEB1)
            and k.split("/")[6] == "32"
        }
        names = {"web-0": taps[WEB0], "db-0": taps[DB], "web-1": taps[WEB1]}
        service = Nat44LbStaticMapping(
            "10.96.0.10",
            80,
            "tcp",
            (Nat44LbLocal(WEB0, 8080, vrf=1), Nat44LbLocal(WEB1, 8080, vrf=1)),
            twice_nat="self",
            label="default/web",
        )
        policy = Acl(
            "contiv-policy-db",
            (
                AclRule(
                    "permit",
                    src_network=f"{WEB0}/32",
                    protocol="tcp",
                    dst_ports=PortRange(5432, 5432),
                ),
                AclRule("deny"),
            ),
        )
        reflection = Acl("contiv-policy-REFLECTION", (AclRule("reflect"),))
        desired.update(
            {
                keys.nat44_global(): Nat44Global(forwarding=True),
                **{
                    keys.nat44_interface(t): Nat44Interface(t, inside=True, outside=True)
                    for t in names.values()
                },
                keys.nat44_address_pool("192.168.16.1"): Nat44AddressPool("192.168.16.1"),
                keys.nat44_address_pool("10.1.1.254", twice_nat=True): Nat44AddressPool(
                    "10.1.1.254", twice_nat=True
                ),
                keys.nat44_lb_static_mapping("10.96.0.10", "tcp", 80): service,
                keys.nat44_identity_mapping(0, "loopbackNIC", "udp", 4790): Nat44IdentityMapping(
                    interface="loopbackNIC", protocol="udp", port=4790
                ),
                keys.acl(policy.name): policy,
                keys.acl(reflection.name): reflection,
                keys.acl_interface(names["db-0"]): AclInterface(
                    names["db-0"], ingress=(reflection.name,), egress=(policy.name,)
                ),
            }
        )
        async with VPPClient(sock, timeout=5, retry_interval=0.01) as client:
            sched = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
            record = await sched.commit(desired, trigger="test")
            assert record.ok, dict(record.errors)
        yield sock, names, sim
    finally:
        await sim.close()


async def snapshot(sock: str) -> Dataplane:
    async with VPPClient(sock, timeout=5) as client:
        return Dataplane(await read_snapshot(client, "node-1"))


async def test_snapshot_holds_what_the_descriptors_programmed(
    programmed: Programmed,
) -> None:
    sock, names, _ = programmed
    dp = await snapshot(sock)
    snap = dp.node("node-1")
    db = snap.interface_named(names["db-0"])
    assert db is not None
    assert (db.kind, db.vrf, db.host_if_name) == ("tap", 1, "eth0")
    gateway = snap.interface(db.unnumbered_to)  # type: ignore[arg-type]
    assert gateway is not None and gateway.addresses == ("10.1.1.1/24",)
    binding = next(b for b in snap.acl_bindings if b.sw_if_index == db.sw_if_index)
    acl_tags = {a.acl_index: a.tag for a in snap.acls}
    assert [acl_tags[i] for i in binding.input] == ["contiv-policy-REFLECTION"]
    assert [acl_tags[i] for i in binding.output] == ["contiv-policy-db"]
    assert (snap.nat.enabled, snap.nat.forwarding) == (True, True)
    (lb,) = snap.nat.lb_mappings
    assert (lb.external_ip, lb.external_port, lb.protocol, lb.twice_nat) == (
        "10.96.0.10",
        80,
        6,
        "self",
    )
    assert sorted((x.ip, x.port) for x in lb.locals) == [(WEB0, 8080), (WEB1, 8080)]
    # An identity mapping naming an interface is reported with that interface's address.
    identities = {
        (m.local_ip, m.protocol, m.local_port) for m in snap.nat.static_mappings if m.identity
    }
    assert ("192.168.16.1", 17, 4790) in identities
    assert not any(ip == "0.0.0.0" for ip, _, _ in identities)
    # VPP's own entries are part of the FIB picture: the special 0.0.0.0/32 drop, connected
    # and local entries of interface addresses, and the API routes.
    pod_vrf = {e.prefix: e for e in snap.entries(1)}
    assert pod_vrf["0.0.0.0/32"].paths[0].kind == "drop"
    assert pod_vrf["10.1.1.1/32"].paths[0].kind == "local"
    assert pod_vrf["10.1.0.0/16"].source == "api"


async def test_policy_lets_web0_in_and_keeps_web1_out(
    programmed: Programmed,
) -> None:
    sock, names, _ = programmed
    dp = await snapshot(sock)
    request, reply = dp.connect(Packet(WEB0, DB, TCP, 40000, 5432))
    assert (request.result, request.interface) == ("delivered", names["db-0"])
    assert reply is not None and (reply.result, reply.interface) == ("delivered", names["web-0"])
    refused = dp.send(Packet(WEB1, DB, TCP, 40000, 5432))
    assert (refused.result, refused.stage, refused.interface) == (
        "dropped",
        "acl-out",
        names["db-0"],
    )
    assert refused.reason.endswith("'contiv-policy-db' rule 1 (any -> any): deny")


async def test_service_hairpin_and_reply_through_the_programmed_nat(
    programmed: Programmed,
) -> None:
    sock, names, _ = programmed
    dp = await snapshot(sock)
    request, reply = dp.connect(Packet(DB, "10.96.0.10", TCP, 40000, 80))
    assert request.delivered and request.interface in (names["web-0"], names["web-1"])
    assert (request.packet.dst, request.packet.dport, request.packet.src) == (
        {names["web-0"]: WEB0, names["web-1"]: WEB1}[request.interface],
        8080,
        DB,
    )
    assert reply is not None and reply.delivered
    assert (reply.interface, reply.packet.src, reply.packet.sport) == (
        names["db-0"],
        "10.96.0.10",
        80,
    )


async def test_remote_pod_leaves_over_vxlan(programmed: Programmed) -> None:
    sock, _, _ = programmed
    out = (await snapshot(sock)).send(Packet(WEB0, "10.1.2.7", TCP, 40000, 80))
    assert (out.result, out.stage, out.interface) == ("left", "vxlan", "vxlan2")
    assert out.reason == "to 192.168.16.2 over VXLAN (no snapshot of that node)"


async def test_contivpp_trace_command_names_pods_and_prints_json(
    programmed: Programmed, workdir: Path
) -> None:
    sock, names, _ = programmed
    state = workdir / "state"
    state.mkdir()
    pods = [
        {
            "namespace": "default",
            "name": name,
            "container_id": cid,
            "netns": "",
            "ifname": "eth0",
            "ip": ip,
        }
        for (name, cid), ip in zip(CONTAINERS.items(), (WEB0, DB, WEB1), strict=True)
    ]
    (state / "pods.json").write_text(json.dumps({"pods": pods}))
    assert tap_name(CONTAINERS["db-0"]) == names["db-0"]

    async def trace(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "trace",
            "--vpp-socket",
            sock,
            "--node",
            "node-1",
            "--state-dir",
            str(state),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, _ = await trace("default/web-1", "default/db-0:5432/tcp", "--json")
    assert code == 3
    data = json.loads(out)
    assert data["format"] == "contivpp-trace/1"
    assert data["from"] == {"ip": WEB1, "pod": "default/web-1"}
    assert data["to"] == {"ip": DB, "pod": "default/db-0"}
    assert data["packet"] == {"src": WEB1, "dst": DB, "proto": "tcp", "sport": 40000, "dport": 5432}
    outcome = data["outcome"]
    assert (outcome["result"], outcome["stage"], outcome["pod"]) == (
        "dropped",
        "acl-out",
        "default/db-0",
    )
    assert [h["stage"] for h in outcome["hops"]] == ["ingress", "nat44", "fib", "acl-out"]
    assert data["reply"] is None

    code, text, _ = await trace("default/web-0", "default/db-0:5432", "--reply")
    assert code == 0
    assert "=> DELIVERED to " + names["db-0"] + " (pod default/db-0) on node-1" in text
    assert text.count("=> DELIVERED") == 2

    code, _, err = await trace("default/nope", "10.1.1.4:80")
    assert code == 1
    assert err.strip() == "contivpp trace: source 'default/nope': no such pod on this node"


async def program_node(sock: str, node_name: str) -> dict[str, str]:
    """Program the example log's VPP values as rendered on ``node_name``; pod IP -> TAP."""
    lines = EXAMPLE.read_text().splitlines()
    lines[0] = lines[0].replace('"node":"node-1"', f'"node":"{node_name}"')
    assert node_name in lines[0]
    result = await replay(read_lines(iter(lines)))
    desired = {k: v for k, v in result.desired.items() if k.startswith("vpp/")}
    async with VPPClient(sock, timeout=5, retry_interval=0.01) as client:
        sched = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        record = await sched.commit(desired, trigger="test")
        assert record.ok, dict(record.errors)
    return {
        k.split("/")[5]: route.out_interface  # type: ignore[attr-defined]
        for k, route in desired.items()
        if k.startswith(keys.ROUTE_PREFIX) and k.split("/")[6] == "32" and "/tap-" in k
    }


async def test_two_nodes_over_vxlan_with_a_peer(workdir: Path) -> None:
    socks = [str(workdir / "node1.sock"), str(workdir / "node2.sock")]
    sims = [Simulator(seed=1), Simulator(seed=2)]
    for sim, sock in zip(sims, socks, strict=True):
        await sim.start(sock)
    try:
        pods1 = await program_node(socks[0], "node-1")
        pods2 = await program_node(socks[1], "node-2")
        assert WEB0 in pods1
        remote = "10.1.2.2"
        assert remote in pods2
        snaps = []
        for name, sock in (("node-1", socks[0]), ("node-2", socks[1])):
            async with VPPClient(sock, timeout=5) as client:
                snaps.append(await read_snapshot(client, name))
        dp = Dataplane(snaps)
        request, reply = dp.connect(Packet(WEB0, remote, TCP, 40000, 80), node="node-1")
        assert (request.result, request.node, request.interface) == (
            "delivered",
            "node-2",
            pods2[remote],
        )
        assert [(h.node, h.stage) for h in request.hops if h.stage == "vxlan"] == [
            ("node-1", "vxlan"),
            ("node-2", "vxlan"),
        ]
        assert reply is not None
        assert (reply.result, reply.node, reply.interface) == ("delivered", "node-1", pods1[WEB0])

        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "trace",
            "--vpp-socket",
            socks[0],
            "--node",
            "node-1",
            "--peer",
            f"node-2={socks[1]}",
            WEB0,
            f"{remote}:80",
            "--json",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        outcome = json.loads(out)["outcome"]
        assert (outcome["result"], outcome["node"], outcome["interface"]) == (
            "delivered",
            "node-2",
            pods2[remote],
        )
    finally:
        for sim in sims:
            await sim.close()


async def test_nat_sessions_are_read_from_vpp(programmed: Programmed, workdir: Path) -> None:
    """Sessions VPP holds (``nat44_user_dump`` + ``nat44_user_session_v3_dump``) carry an
    established connection in the model. Needs the simulator's session table (issue 10)."""
    nat_sessions = pytest.importorskip("contivpp.vpp.sim.nat_sessions")
    sock, names, sim = programmed
    nat_sessions.open_service_session(
        sim.state.nat,
        client=DB,
        client_port=41000,
        external="10.96.0.10",
        external_port=80,
        protocol=6,
        backend=1,
    )
    dp = await snapshot(sock)
    (session,) = dp.node("node-1").nat.sessions
    assert (session.inside_ip, session.inside_port, session.ext_host_ip) == (WEB1, 8080, DB)
    out = dp.send(Packet(DB, "10.96.0.10", TCP, 41000, 80, tcp_flags=0x10))
    assert (out.result, out.interface, out.packet.dst) == ("delivered", names["web-1"], WEB1)
