"""NAT44-ED sessions (issue 10, stale sessions): the simulator's session dump and delete calls
over the real binary API, and the agent's "delete every session towards this backend"."""

from __future__ import annotations

import ipaddress

from vppdesc_helpers import SimHandle

from contivpp.config import AgentConfig
from contivpp.controller import Controller, ReconcilerSink
from contivpp.errors import VPPApiError
from contivpp.events import k8s
from contivpp.events.state import initial_state
from contivpp.events.types import K8sUpserted, NodeIDAllocated
from contivpp.reconcile import Scheduler
from contivpp.renderers.services import Backend
from contivpp.vpp.client import VPPClient
from contivpp.vpp.nat_sessions import delete_sessions_towards
from contivpp.vpp.sim.nat import NatState
from contivpp.vpp.sim.nat_sessions import Session, open_service_session

TCP, UDP = 6, 17
IP = ipaddress.IPv4Address
WHERE = {"external_addr": "10.96.0.10", "external_port": 80, "protocol": TCP, "flags": 0x04}
BACKENDS = [("10.1.1.2", 8080), ("10.1.1.3", 8080), ("10.1.1.4", 8080)]


def nat(sim: SimHandle) -> NatState:
    assert sim.sim is not None
    return sim.sim.state.nat


async def lb_service(vpp: VPPClient) -> None:
    await vpp.call("nat44_ed_plugin_enable_disable", enable=True)
    locals_ = [{"addr": a, "port": p, "probability": 1, "vrf_id": 0} for a, p in BACKENDS]
    await vpp.call("nat44_add_del_lb_static_mapping", is_add=True, locals=locals_, **WHERE)


def open_to(sim: SimHandle, client: str, client_port: int, backend: int) -> None:
    open_service_session(
        nat(sim),
        client=client,
        client_port=client_port,
        external="10.96.0.10",
        external_port=80,
        protocol=TCP,
        backend=backend,
    )


async def del_session(
    vpp: VPPClient, address: str, port: int, ext_host: str, ext_host_port: int, flags: int = 0
) -> int:
    """nat44_del_session of one TCP flow key in VRF 0; its retval."""
    try:
        await vpp.call(
            "nat44_del_session",
            address=IP(address),
            port=port,
            ext_host_address=IP(ext_host),
            ext_host_port=ext_host_port,
            protocol=TCP,
            vrf_id=0,
            flags=flags,
        )
    except VPPApiError as exc:
        return exc.retval
    return 0


def inside_ends(sim: SimHandle) -> list[str]:
    return [s["inside"] for s in sim.state()["nat"]["session_table"]]


async def test_sessions_are_dumped_per_user_and_deleted_by_flow_key(
    sim: SimHandle, vpp: VPPClient
) -> None:
    assert await del_session(vpp, "10.1.1.3", 8080, "10.1.2.7", 40000) == -126  # plugin off
    await lb_service(vpp)
    open_to(sim, "10.1.2.7", 40000, backend=1)
    open_to(sim, "10.1.2.8", 40001, backend=1)
    open_to(sim, "10.1.2.7", 40002, backend=0)
    users = await vpp.dump("nat44_user_dump")
    assert [(str(u.ip_address), u.vrf_id, u.nsessions, u.nstaticsessions) for u in users] == [
        ("10.1.1.3", 0, 0, 2),
        ("10.1.1.2", 0, 0, 1),
    ]
    (first, second) = await vpp.dump("nat44_user_session_v3_dump", ip_address=IP("10.1.1.3"))
    assert (str(first.inside_ip_address), first.inside_port) == ("10.1.1.3", 8080)
    assert (str(first.outside_ip_address), first.outside_port) == ("10.96.0.10", 80)
    assert (str(first.ext_host_address), first.ext_host_port) == ("10.1.2.7", 40000)
    assert (first.protocol, first.flags) == (TCP, 0x40 | 0x80)  # IS_STATIC | IS_EXT_HOST_VALID
    assert str(second.ext_host_address) == "10.1.2.8"
    # nat44_del_session takes a flow key: here the in2out one (backend -> client).
    in2out = ("10.1.1.3", 8080, "10.1.2.7", 40000)
    assert await del_session(vpp, *in2out, flags=0x20) == 0
    assert inside_ends(sim) == ["10.1.1.3:8080", "10.1.1.2:8080"]
    assert await del_session(vpp, *in2out, flags=0x20) == -6  # NO_SUCH_ENTRY
    # The out2in key finds a session too (client -> service address).
    assert await del_session(vpp, "10.1.2.8", 40001, "10.96.0.10", 80) == 0
    assert inside_ends(sim) == ["10.1.1.2:8080"]


async def test_removing_an_lb_backend_deletes_its_lb_sessions_as_vpp_does(
    sim: SimHandle, vpp: VPPClient
) -> None:
    await lb_service(vpp)
    open_to(sim, "10.1.2.7", 40000, backend=0)
    open_to(sim, "10.1.2.7", 40001, backend=2)
    local = {"addr": "10.1.1.4", "port": 8080, "probability": 1, "vrf_id": 0}
    where = {k: v for k, v in WHERE.items() if k != "flags"}
    await vpp.call("nat44_lb_static_mapping_add_del_local", is_add=False, local=local, **where)
    assert inside_ends(sim) == ["10.1.1.2:8080"]


async def test_delete_sessions_towards_a_backend_leaves_the_others(
    sim: SimHandle, vpp: VPPClient
) -> None:
    await lb_service(vpp)
    open_to(sim, "10.1.2.7", 40000, backend=1)
    open_to(sim, "10.1.2.8", 40000, backend=1)
    open_to(sim, "10.1.2.9", 40000, backend=0)
    sessions = nat(sim).session_table
    # A twice-NATed session to the same backend (the client appears as 10.99.0.1:1024) and a
    # UDP session to the same address and port: only TCP 10.1.1.3:8080 is asked for.
    twice = Session(
        protocol=TCP,
        inside=IP("10.1.1.3"),
        inside_port=8080,
        outside=IP("192.168.16.1"),
        outside_port=30080,
        ext_host=IP("192.168.16.50"),
        ext_host_port=51000,
        ext_host_nat=IP("10.99.0.1"),
        ext_host_nat_port=1024,
        static=True,
    )
    sessions.open(twice)
    sessions.open(Session(UDP, IP("10.1.1.3"), 8080, IP("10.96.0.10"), 80, IP("10.1.2.7"), 40000))
    assert await delete_sessions_towards(vpp, "10.1.1.3", 8080, "tcp") == 3
    assert [
        (s["inside"], s["protocol"], s["ext_host"]) for s in sim.state()["nat"]["session_table"]
    ] == [("10.1.1.2:8080", TCP, "10.1.2.9:40000"), ("10.1.1.3:8080", UDP, "10.1.2.7:40000")]
    assert await delete_sessions_towards(vpp, "10.1.1.3", 8080, "tcp") == 0
    assert await delete_sessions_towards(vpp, "10.1.1.3", 8080, "udp") == 1
    assert inside_ends(sim) == ["10.1.1.2:8080"]


async def test_an_endpoint_replaced_through_the_agent_leaves_no_session_behind(
    sim: SimHandle, vpp: VPPClient, sched: Scheduler
) -> None:
    """End to end (controller, parts, reconciler, simulator): a one-endpoint service moves to
    another backend. VPP deletes only the first session of a static mapping it removes; the
    agent deletes the rest, so no client keeps talking to the backend that went away."""

    async def sessions(b: Backend) -> int:
        return await delete_sessions_towards(vpp, b.ip, b.port, b.protocol, vrf=b.vrf)

    controller = Controller(
        initial_state(AgentConfig("node-1")), sink=ReconcilerSink(sched, sessions=sessions)
    )
    service = k8s.Service(
        "d", "web", cluster_ip="10.96.0.10", ports=(k8s.ServicePort("http", "TCP", 80, 8080),)
    )

    def slice_to(address: str) -> K8sUpserted:
        endpoint = k8s.Endpoint((address,), node_name="node-2")
        port = k8s.EndpointPort("http", 8080, "TCP")
        return K8sUpserted(
            k8s.EndpointSlice("d", "web-1", "web", endpoints=(endpoint,), ports=(port,))
        )

    for seq, event in enumerate(
        [NodeIDAllocated("node-1", 1), K8sUpserted(service), slice_to("10.1.2.5")], 1
    ):
        await controller.handle(seq, event)
    assert controller.apply_errors == 0
    for client_port in (40001, 40002):
        open_service_session(
            nat(sim),
            client="10.1.1.9",
            client_port=client_port,
            external="10.96.0.10",
            external_port=80,
            protocol=TCP,
        )
    assert (
        len(await vpp.dump("nat44_user_session_v3_dump", ip_address=IP("10.1.2.5"), vrf_id=1)) == 2
    )
    await controller.handle(4, slice_to("10.1.2.6"))
    assert controller.apply_errors == 0
    assert await vpp.dump("nat44_user_session_v3_dump", ip_address=IP("10.1.2.5"), vrf_id=1) == []
