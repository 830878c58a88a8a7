"""contivpp's asyncio VPP client against the simulator: calls, dumps, errors, pipelining,
timeouts, events, reconnect and restart detection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from vppsim_helpers import NO_INDEX, SimThread

from contivpp.errors import VPPApiError, VPPConnectionError, VPPError, VPPTimeoutError
from contivpp.vpp.client import VPPClient
from contivpp.vpp.sim import Simulator
from contivpp.vpp.sim.server import Client


class SilentSim(Simulator):
    """A simulator that never answers show_version (a VPP stuck in one request)."""

    def _dispatch(self, client: Client, body: bytes) -> None:
        mdef = self.table.lookup(body)
        if mdef is not None and mdef.name == "show_version":
            return
        super()._dispatch(client, body)


async def test_calls_dumps_and_api_errors(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=3) as vpp:
        assert vpp.connected and vpp.vpp_pid == os.getpid() and vpp.generation == 0
        loop = await vpp.call("create_loopback", mac_address="02:00:00:00:00:01")
        assert loop.name == "create_loopback_reply" and loop.sw_if_index == 1
        details = await vpp.dump("sw_interface_dump")
        assert [(d.interface_name, d["l2_address"]) for d in details] == [
            ("local0", "00:00:00:00:00:00"),
            ("loop0", "02:00:00:00:00:01"),
        ]
        with pytest.raises(VPPApiError) as err:
            await vpp.call("delete_loopback", sw_if_index=55)
        assert (err.value.message, err.value.retval, err.value.meaning) == (
            "delete_loopback",
            -2,
            "INVALID_SW_IF_INDEX",
        )
        assert err.value.retriable
        with pytest.raises(VPPApiError) as err:
            await vpp.call(
                "sw_interface_add_del_address", sw_if_index=1, is_add=True, prefix="10.0.0.1/0"
            )
        assert (err.value.retval, err.value.retriable) == (-59, False)
        with pytest.raises(VPPApiError) as err:
            await vpp.dump("l2_xconnect_dump")  # a dump the simulator does not implement
        assert err.value.retval == -9
        # acl_add_replace_reply carries retval after acl_index; still found and translated.
        with pytest.raises(VPPApiError, match="acl_add_replace: retval -6"):
            await vpp.call("acl_add_replace", acl_index=3, count=0, r=[])
        assert await vpp.dump("nat44_ed_output_interface_get") == []  # new-style stream


async def test_counts_and_fixed_arrays_are_filled_in(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=3) as vpp:
        rule = {"is_permit": 1, "src_prefix": "10.0.0.0/8", "dst_prefix": "0.0.0.0/0"}
        acl = await vpp.call("acl_add_replace", acl_index=NO_INDEX, tag="t", r=[rule, rule])
        (details,) = await vpp.dump("acl_dump", acl_index=acl.acl_index)
        assert details.count == 2 and str(details.r[1]["src_prefix"]) == "10.0.0.0/8"
        # No n_paths, no 16-entry label_stack: the client derives both.
        route = {"table_id": 0, "prefix": "10.9.0.0/16", "paths": [{"sw_if_index": 0}]}
        await vpp.call("ip_route_add_del", is_add=True, route=route)
        (d,) = await vpp.dump("ip_route_v2_dump", src=8, table={"table_id": 0})
        assert (str(d.route["prefix"]), d.route["n_paths"]) == ("10.9.0.0/16", 1)
        assert d.route["paths"][0]["sw_if_index"] == 0


async def test_misuse_is_reported_not_sent(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=3) as vpp:
        misuses = [
            lambda: vpp.call("no_such_message"),
            lambda: vpp.call("sw_interface_dump"),
            lambda: vpp.dump("create_loopback"),
            lambda: vpp.call("create_loopback", no_such_field=1),
            lambda: vpp.call("sw_interface_tag_add_del", sw_if_index=0, tag="x" * 80),
        ]
        for misuse in misuses:
            with pytest.raises(VPPError) as err:
                await misuse()
            assert not err.value.retriable, err.value
        assert vpp.supports("proxy_arp_add_del") and not vpp.supports("no_such_message")


async def test_many_requests_in_flight(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=10) as vpp:
        replies = await asyncio.gather(*(vpp.call("create_loopback") for _ in range(300)))
        # One socket, answered in order: indices follow submission order.
        assert [r.sw_if_index for r in replies] == list(range(1, 301))
        dumps = await asyncio.gather(*(vpp.dump("sw_interface_dump") for _ in range(20)))
        assert {len(d) for d in dumps} == {301}


async def test_timeout_then_the_connection_still_works(sock_path: str) -> None:
    sim = SimThread(sock_path)
    sim.start(SilentSim)
    try:
        async with VPPClient(sock_path, timeout=3) as vpp:
            with pytest.raises(VPPTimeoutError, match="show_version"):
                await vpp.call("show_version", timeout=0.2)
            assert (await vpp.call("control_ping")).retval == 0
    finally:
        sim.close()


async def test_pending_calls_fail_when_vpp_dies_and_client_reconnects(sock_path: str) -> None:
    sim = SimThread(sock_path)
    sim.start(SilentSim)
    try:
        async with VPPClient(sock_path, timeout=5) as vpp:
            pending = asyncio.create_task(vpp.call("show_version"))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(sim.stop)
            with pytest.raises(VPPConnectionError):
                await pending
            assert not vpp.connected
            # A call made while VPP is away waits (within its timeout) for the reconnect.
            waiting = asyncio.create_task(vpp.call("create_loopback"))
            await asyncio.sleep(0.2)
            await asyncio.to_thread(sim.start)
            assert (await waiting).sw_if_index == 1
            restart = await asyncio.wait_for(vpp.restarts.get(), 5)
            assert (restart.generation, restart.reason) == (1, "connection lost")
    finally:
        sim.close()


async def test_restart_detected_and_state_reset(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=3) as vpp:
        await vpp.watch_interface_events()
        tap = await vpp.call("tap_create_v3", id=NO_INDEX, tag="pod-a")
        vpp.interfaces.put("pod-a", tap.sw_if_index)
        first = await asyncio.wait_for(vpp.events.get(), 5)
        assert (first.name, first.sw_if_index, first.deleted) == ("sw_interface_event", 1, False)
        await asyncio.to_thread(sim.restart)
        restart = await asyncio.wait_for(vpp.restarts.get(), 5)
        assert restart.generation == vpp.generation == 1
        assert restart.previous_pid == restart.pid == os.getpid()  # in-process: same pid
        assert len(vpp.interfaces) == 0  # indices of the old VPP are void
        assert [d.interface_name for d in await vpp.dump("sw_interface_dump")] == ["local0"]
        # The event subscription was renewed on the new VPP.
        loop = await vpp.call("create_loopback")
        event = await asyncio.wait_for(vpp.events.get(), 5)
        assert event.sw_if_index == loop.sw_if_index


async def test_interface_index_rebuilt_from_tags(sim: SimThread) -> None:
    async with VPPClient(sim.path, timeout=3) as vpp:
        await vpp.call("tap_create_v3", id=NO_INDEX, tag="pod-a")
        await vpp.call("create_loopback")
        index = await vpp.refresh_interfaces()
        assert dict(index.items()) == {"local0": 0, "pod-a": 1, "loop0": 2}
        assert index.require("pod-a") == 1 and index.name_of(2) == "loop0"
        with pytest.raises(VPPError) as err:
            index.require("pod-b")
        assert err.value.retriable


async def test_connect_gives_up_when_no_vpp(sock_path: str) -> None:
    vpp = VPPClient(sock_path, timeout=0.5, connect_timeout=0.3)
    with pytest.raises(VPPConnectionError, match="cannot connect"):
        await vpp.connect()
    await asyncio.to_thread(Path(sock_path).touch)  # a stale socket file, nobody listening
    with pytest.raises(VPPConnectionError):
        await vpp.connect()


async def test_async_and_sync_clients_side_by_side(sim: SimThread) -> None:
    from vppsim_helpers import papi_client

    sync = await asyncio.to_thread(papi_client, sim.path, "sync")
    try:
        async with VPPClient(sim.path, timeout=3) as vpp:
            await vpp.call("bridge_domain_add_del_v2", bd_id=4, flood=True)
            bds = await asyncio.to_thread(sync.api.bridge_domain_dump)
            assert [b.bd_id for b in bds] == [4]
    finally:
        await asyncio.to_thread(sync.disconnect)


def start_subprocess_sim(sock_path: str) -> subprocess.Popen[bytes]:
    # Log lines go to stdout (discarded); a crash's traceback reaches pytest through stderr.
    return subprocess.Popen(
        [sys.executable, "-m", "contivpp.vpp.sim", "--socket", sock_path],
        stdout=subprocess.DEVNULL,
    )


async def test_restart_of_a_simulator_process_changes_pid(sock_path: str) -> None:
    first = start_subprocess_sim(sock_path)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with VPPClient(sock_path, timeout=3, connect_timeout=20) as vpp:
            assert vpp.vpp_pid == first.pid
            await vpp.call("create_loopback")
            first.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.wait, 10) == 0
            assert not await asyncio.to_thread(
                os.path.exists, sock_path
            )  # the simulator removed its socket
            second = start_subprocess_sim(sock_path)
            restart = await asyncio.wait_for(vpp.restarts.get(), 20)
            assert (restart.previous_pid, restart.pid, restart.reason) == (
                first.pid,
                second.pid,
                "pid changed",
            )
            assert len(await vpp.dump("sw_interface_dump")) == 1
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
