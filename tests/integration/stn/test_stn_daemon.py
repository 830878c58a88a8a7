"""``contivpp stn`` against a real NIC stand-in: a veth in a netns playing the host.

The daemon runs in the "host" netns (as it would on a node), the NIC is one end of a veth
whose peer sits in a second netns (the LAN). What the NIC has is read with ``ip -j``, never
with the code under test, and compared with the literal configuration the fixture gave it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import attrs
import pytest

from contivpp.errors import STNError
from contivpp.stn.client import (
    keep_alive,
    release_interface,
    steal_interface,
    stolen_interface_info,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

CONTIVPP = str(Path(sys.executable).with_name("contivpp"))
AGENT = str(Path(__file__).with_name("stn_agent.py"))
KEEPALIVE = 1.0  # the daemon's --keepalive-timeout in these tests

NIC_ADDRESSES = {"192.0.2.10/24", "2001:db8::10/64"}
NIC_ROUTES = {
    # (destination, gateway, metric) as `ip -j route` reports them
    ("default", "192.0.2.1", 100),
    ("198.51.100.0/24", "192.0.2.254", 0),
    ("203.0.113.0/24", "", 0),
    ("2001:db8:1::/48", "2001:db8::1", 1024),
}
NIC_MTU = 1400
NIC_MAC = "02:00:00:5e:00:53"


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@attrs.frozen
class NicState:
    addresses: frozenset[str]
    routes: frozenset[tuple[str, str, int]]
    mtu: int
    up: bool
    mac: str


def nic_state(netns: str) -> NicState:
    link = json.loads(sh("ip", "-n", netns, "-j", "link", "show", "dev", "nic0"))[0]
    addrs = json.loads(sh("ip", "-n", netns, "-j", "addr", "show", "dev", "nic0"))[0]
    routes = set()
    for family in ("-4", "-6"):
        for r in json.loads(sh("ip", "-n", netns, family, "-j", "route", "show", "dev", "nic0")):
            if r.get("protocol") == "kernel":
                continue
            routes.add((r["dst"], r.get("gateway", ""), r.get("metric", 0)))
    return NicState(
        addresses=frozenset(
            f"{a['local']}/{a['prefixlen']}" for a in addrs["addr_info"] if a["scope"] != "link"
        ),
        routes=frozenset(routes),
        mtu=link["mtu"],
        up="UP" in link["flags"],
        mac=link["address"],
    )


ORIGINAL = NicState(frozenset(NIC_ADDRESSES), frozenset(NIC_ROUTES), NIC_MTU, True, NIC_MAC)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def host() -> Iterator[str]:
    """A netns standing in for the node, with ``nic0`` configured like a node's only NIC."""
    name, lan = f"stnh-{uuid.uuid4().hex[:6]}", f"stnl-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    sh("ip", "netns", "add", lan)
    try:
        sh("ip", "-n", name, "link", "add", "nic0", "type", "veth", "peer", "name", "lan0")
        sh("ip", "-n", name, "link", "set", "lan0", "netns", lan)
        sh("ip", "-n", lan, "link", "set", "lan0", "up")
        sh("ip", "-n", name, "link", "set", "nic0", "mtu", str(NIC_MTU), "address", NIC_MAC)
        sh("ip", "-n", name, "link", "set", "nic0", "up")
        sh("ip", "-n", name, "addr", "add", "192.0.2.10/24", "dev", "nic0")
        sh("ip", "-n", name, "addr", "add", "2001:db8::10/64", "dev", "nic0", "nodad")
        ip = ("ip", "-n", name, "route", "add")
        sh(*ip, "default", "via", "192.0.2.1", "dev", "nic0", "metric", "100")
        sh(*ip, "198.51.100.0/24", "via", "192.0.2.254", "dev", "nic0")
        sh(*ip, "203.0.113.0/24", "dev", "nic0", "scope", "link")
        sh(*ip, "2001:db8:1::/48", "via", "2001:db8::1", "dev", "nic0")
        assert nic_state(name) == ORIGINAL  # the fixture itself is what the tests assume
        yield name
    finally:
        sh("ip", "netns", "del", name)
        sh("ip", "netns", "del", lan)


class Daemon:
    """``contivpp stn`` as a process in the host netns, started with umask 000."""

    def __init__(self, netns: str, workdir: Path) -> None:
        self.netns = netns
        self.socket = workdir / "run" / "stn.sock"
        self.state_dir = workdir / "state"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["ip", "netns", "exec", self.netns, CONTIVPP, "--log-format", "json", "stn"]
        cmd += ["--socket", str(self.socket), "--state-dir", str(self.state_dir)]
        cmd += ["--keepalive-timeout", str(KEEPALIVE)]
        if self.socket.exists():
            self.socket.unlink()  # so that waiting for it waits for this process
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(0)
        )
        wait_for(self.socket.exists, 15, "the STN socket")

    def kill(self, sig: int = signal.SIGKILL) -> bytes:
        assert self.proc is not None
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=10)
        self.proc = None
        return err


@pytest.fixture
def daemon(host: str, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(host, tmp_path)
    d.start()
    try:
        yield d
    finally:
        if d.proc is not None:
            d.kill(signal.SIGTERM)


def stolen_file(d: Daemon) -> dict[str, object]:
    data: dict[str, object] = json.loads((d.state_dir / "stolen.json").read_text())["interfaces"]
    return data


def test_agent_death_gives_the_nic_back_as_it_was(host: str, daemon: Daemon) -> None:
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600  # despite umask 000
    agent = subprocess.Popen(
        [sys.executable, AGENT, str(daemon.socket), "nic0", "0.3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        reply = json.loads(agent.stdout.readline())
        # the agent got what the host had
        assert reply == {
            "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
            "routes": [
                "0.0.0.0/0 via 192.0.2.1",
                "198.51.100.0/24 via 192.0.2.254",
                "2001:db8:1::/48 via 2001:db8::1",
                "203.0.113.0/24 via link",
            ],
        }
        # the host no longer has it
        taken = nic_state(host)
        assert (taken.addresses, taken.routes, taken.up) == (frozenset(), frozenset(), False)
        record = daemon.state_dir / "stolen.json"
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        assert stat.S_IMODE(daemon.state_dir.stat().st_mode) == 0o700
        assert list(stolen_file(daemon)) == ["nic0"]
        # while the agent lives, its keep-alives keep the NIC stolen
        time.sleep(2 * KEEPALIVE)
        assert nic_state(host).addresses == frozenset()
    finally:
        agent.kill()
        agent.communicate()
    # the agent is dead: after the keep-alive timeout the host has its NIC back, exactly
    wait_for(lambda: nic_state(host) == ORIGINAL, KEEPALIVE + 5, "the NIC to be restored")
    assert stolen_file(daemon) == {}
    assert daemon.proc is not None and daemon.proc.poll() is None  # still serving


async def test_a_restarted_daemon_still_knows_what_it_stole(host: str, daemon: Daemon) -> None:
    stolen = await steal_interface(daemon.socket, "nic0")
    assert sorted(map(str, stolen.addresses)) == sorted(NIC_ADDRESSES)
    daemon.kill(signal.SIGKILL)  # no chance to clean up
    assert nic_state(host).addresses == frozenset()  # still taken
    daemon.start()
    # the restarted daemon answers with the original configuration, not the stripped NIC
    again = await stolen_interface_info(daemon.socket, "nic0")
    assert again == stolen
    # stealing again (an agent restart) is answered from the record too
    assert await steal_interface(daemon.socket, "nic0") == stolen
    released = await release_interface(daemon.socket, "nic0")
    assert released == stolen
    assert nic_state(host) == ORIGINAL
    with pytest.raises(STNError, match="interface 'nic0' is not stolen"):
        await stolen_interface_info(daemon.socket, "nic0")


async def test_restart_without_agent_restores_after_grace(host: str, daemon: Daemon) -> None:
    await steal_interface(daemon.socket, "nic0")
    err = daemon.kill(signal.SIGTERM)  # an orderly stop does not give the NIC back...
    assert b"Traceback" not in err
    assert nic_state(host).addresses == frozenset()
    daemon.start()
    # ...and the restarted daemon, hearing from no agent, does after one timeout
    wait_for(lambda: nic_state(host) == ORIGINAL, KEEPALIVE + 5, "the NIC to be restored")
    # an agent that was only stalled learns at its next keep-alive that the NIC is gone
    with pytest.raises(STNError, match="interface 'nic0' is not stolen"):
        await asyncio.wait_for(keep_alive(daemon.socket, "nic0", 0.2), 5)


async def test_bad_requests_get_an_error_and_change_nothing(host: str, daemon: Daemon) -> None:
    cases: list[tuple[Callable[..., Awaitable[object]], str, str]] = [
        (steal_interface, "nosuch0", "interface 'nosuch0': no such interface"),
        (steal_interface, "", "interface_name is empty"),
        (steal_interface, "a-name-much-too-long", "not a valid Linux interface name"),
        (stolen_interface_info, "nic0", "interface 'nic0' is not stolen"),
        (release_interface, "nic0", "interface 'nic0' is not stolen"),
    ]
    for call, name, message in cases:
        with pytest.raises(STNError, match=message):
            await call(daemon.socket, name)
    assert nic_state(host) == ORIGINAL
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_damaged_state_file_is_refused_by_name(host: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "stolen.json").write_text(
        json.dumps({"format": "contivpp-stn/1", "interfaces": {"nic0": {"name": "nic0"}}})
    )
    out = subprocess.run(
        [CONTIVPP, "stn", "--socket", str(tmp_path / "s.sock"), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"{state}/stolen.json: interfaces.nic0: field 'mac' is missing" in out.stderr
