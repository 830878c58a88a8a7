"""The forwarder re-reads its snapshot exactly when the configuration may have changed.

``Simulator.generation`` moves on requests that can change what the forwarding model reads,
and stays put for dumps and read-only requests (the agent's keep-alive ``control_ping``, the
look-ups of ``contivpp trace``), so that tracing or health-checking a node does not make the
dataplane re-read VPP on the next packet.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from contivpp.vpp.client import VPPClient
from contivpp.vpp.sim import Simulator


@pytest.fixture
def sock() -> Iterator[str]:
    path = Path(tempfile.mkdtemp(prefix="fwdgen-", dir="/tmp"))
    yield str(path / "api.sock")
    shutil.rmtree(path, ignore_errors=True)


async def test_generation_moves_on_changes_only(sock: str) -> None:
    sim = Simulator()
    await sim.start(sock)
    try:
        async with VPPClient(sock, name="agent") as client:
            before = sim.generation
            await client.call("control_ping")
            await client.call("show_version")
            await client.call("sw_interface_get_table", sw_if_index=0, is_ipv6=False)
            await client.call("nat44_show_running_config")
            await client.dump("sw_interface_dump", sw_if_index=0xFFFFFFFF)
            assert sim.generation == before
            await client.call("create_loopback", mac_address="de:ad:00:00:00:09")
            assert sim.generation == before + 1
            await client.call("sw_interface_set_flags", sw_if_index=1, flags=1)
            assert sim.generation == before + 2
    finally:
        await sim.close()
