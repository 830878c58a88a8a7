"""The agent with the real STN daemon: it steals the NIC before it configures VPP, keeps it
with keep-alives while it lives, and ends when the daemon has given the NIC back (it restarts
and steals again). The NIC is a veth in a netns, as in the daemon's own tests, whose fixtures
and helpers these reuse."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import attrs
import pytest
from agent_harness import Node

from contivpp.agent.run import Agent
from contivpp.agent.settings import STNSettings
from contivpp.errors import STNError
from contivpp.stn.client import release_interface

# The daemon's fixtures live with its tests (tests/integration/stn); they are reused, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stn"))
from test_stn_daemon import (
    KEEPALIVE,
    ORIGINAL,
    Daemon,
    daemon,
    host,
    nic_state,
    wait_for,
)

__all__ = ["daemon", "host"]  # fixtures, used by name


def use_stn(node: Node, d: Daemon) -> None:
    # A keep-alive well inside the daemon's timeout (KEEPALIVE s), as the settings ask.
    node.settings = attrs.evolve(
        node.settings, stn=STNSettings(socket=d.socket, interface="nic0", keepalive=0.2)
    )


async def test_agent_steals_keeps_and_on_death_returns_the_nic(
    node: Node, host: str, daemon: Daemon
) -> None:
    use_stn(node, daemon)
    agent = await node.start_agent()
    assert agent.stolen is not None
    assert {str(a) for a in agent.stolen.addresses} == {"192.0.2.10/24", "2001:db8::10/64"}
    taken = nic_state(host)
    assert (taken.addresses, taken.up) == (frozenset(), False)
    # The stolen NIC is VPP's uplink: the event log's header says so (the fixture's NIC).
    header = json.loads((node.work / "events" / "events.jsonl").read_text().splitlines()[0])
    assert header["config"]["mainInterface"] == {
        "interface": "nic0",
        "address": "192.0.2.10/24",
        "gateway": "192.0.2.1",
        "routes": [{"dst": "198.51.100.0/24", "via": "192.0.2.254"}, {"dst": "203.0.113.0/24"}],
    }
    # several daemon timeouts pass: the agent's keep-alive task holds the NIC
    await asyncio.sleep(2 * KEEPALIVE)
    assert nic_state(host).addresses == frozenset()
    assert node.task is not None and not node.task.done()
    await node.stop_agent()  # the keep-alives stop with the agent
    await asyncio.to_thread(
        wait_for, lambda: nic_state(host) == ORIGINAL, KEEPALIVE + 5, "the NIC back"
    )


async def test_agent_ends_when_the_daemon_gave_the_nic_back(
    node: Node, host: str, daemon: Daemon
) -> None:
    use_stn(node, daemon)
    await node.start_agent()
    task = node.task
    assert task is not None
    # The daemon gives the NIC back (as after a stalled agent): the agent's picture is wrong.
    await release_interface(daemon.socket, "nic0")
    started = time.monotonic()
    with pytest.raises(ExceptionGroup) as ended:
        async with asyncio.timeout(5):
            await task
    node.task = None
    assert time.monotonic() - started < 2  # within a few keep-alive intervals
    errors = ended.value.exceptions
    assert len(errors) == 1 and isinstance(errors[0], STNError)
    assert "interface 'nic0' is not stolen" in str(errors[0])
    assert nic_state(host) == ORIGINAL


async def test_agent_without_stn_daemon_fails_at_start_naming_it(
    node: Node, tmp_path: Path
) -> None:
    node.settings = attrs.evolve(
        node.settings, stn=STNSettings(socket=tmp_path / "none.sock", interface="nic0")
    )
    with pytest.raises(STNError, match=f"STN daemon at {tmp_path / 'none.sock'}: StealInterface"):
        await node.start_agent()


async def test_a_slow_vpp_start_does_not_cost_the_nic(
    node: Node, host: str, daemon: Daemon
) -> None:
    """The keep-alives start with the steal: VPP answering several daemon timeouts later
    (a slow VPP start, hugepages being allocated) must find the NIC still stolen."""
    use_stn(node, daemon)
    await asyncio.to_thread(node.sim.stop)
    agent = Agent(node.settings)
    node.task = asyncio.create_task(agent.run())
    await asyncio.sleep(3 * KEEPALIVE)  # the agent waits for VPP all this time
    assert not node.task.done()
    assert agent.stolen is not None and not agent.started.is_set()
    taken = nic_state(host)
    assert (taken.addresses, taken.up) == (frozenset(), False), "NIC given back while starting"
    await asyncio.to_thread(node.sim.start)
    async with asyncio.timeout(30):
        await agent.started.wait()
    await asyncio.sleep(2 * KEEPALIVE)
    assert not node.task.done()
    assert nic_state(host).addresses == frozenset()
