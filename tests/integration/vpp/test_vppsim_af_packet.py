"""Host-interfaces (VPP's af_packet plugin) in the simulator.

Expected values come from VPP v26.06 ``src/plugins/af_packet``: ``af_packet_api.c`` (the
handlers and their replies), ``af_packet.c`` (``af_packet_create_if``: IF_ALREADY_EXISTS with
the existing index, INVALID_INTERFACE for a missing Linux interface, the host end set up, the
random MAC 02:fe:.., link up; ``af_packet_delete_if``: SYSCALL_ERROR_1 for an unknown name)
and ``device.c`` (the name ``host-<ifname>``, device class ``af-packet``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2 import IPRoute
from vppsim_helpers import NO_INDEX, SimThread, papi_client

from contivpp.dataplane.snapshot import read_snapshot
from contivpp.demo import ping
from contivpp.vpp.client import VPPClient

ETHERNET, IP = 1, 2  # af_packet_mode


def interfaces(vpp: Any) -> dict[str, Any]:
    return {d.interface_name: d for d in vpp.sw_interface_dump(sw_if_index=NO_INDEX)}


def test_create_dump_delete(vpp: Any) -> None:
    reply = vpp.af_packet_create_v3(
        mode=ETHERNET, hw_addr="02:00:00:00:00:aa", host_if_name="eth9", flags=1
    )
    assert reply.retval == 0
    itf = interfaces(vpp)["host-eth9"]
    assert itf.sw_if_index == reply.sw_if_index
    assert (itf.interface_dev_type, str(itf.l2_address)) == ("af-packet", "02:00:00:00:00:aa")
    assert int(itf.flags) == 2  # link up from creation, admin down
    assert [(d.sw_if_index, d.host_if_name) for d in vpp.af_packet_dump()] == [
        (reply.sw_if_index, "eth9")
    ]
    again = vpp.af_packet_create_v3(mode=ETHERNET, use_random_hw_addr=True, host_if_name="eth9")
    assert (again.retval, again.sw_if_index) == (-79, reply.sw_if_index)
    random_mac = vpp.af_packet_create_v3(mode=ETHERNET, use_random_hw_addr=True, host_if_name="e2")
    assert random_mac.retval == 0
    assert str(interfaces(vpp)["host-e2"].l2_address).startswith("02:fe:")
    bad_mode = vpp.af_packet_create_v3(mode=3, host_if_name="eth8")
    assert (bad_mode.retval, bad_mode.sw_if_index) == (-7, NO_INDEX)
    assert vpp.af_packet_delete(host_if_name="nope").retval == -11
    # admin up, then deleted: gone from both dumps, its index reusable
    assert vpp.sw_interface_set_flags(sw_if_index=reply.sw_if_index, flags=1).retval == 0
    assert int(interfaces(vpp)["host-eth9"].flags) == 3
    assert vpp.af_packet_delete(host_if_name="eth9").retval == 0
    assert "host-eth9" not in interfaces(vpp)
    assert [d.host_if_name for d in vpp.af_packet_dump()] == ["e2"]


def test_ip_mode_has_no_mac(vpp: Any) -> None:
    reply = vpp.af_packet_create_v3(mode=IP, hw_addr="02:00:00:00:00:aa", host_if_name="tun9")
    assert reply.retval == 0
    assert str(interfaces(vpp)["host-tun9"].l2_address) == "00:00:00:00:00:00"


# ---- with --linux-taps: a real Linux interface behind it --------------------------------------

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="veths and netns need root")


def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture
def wire() -> Iterator[tuple[str, str]]:
    """A veth: ``nic`` in our namespace (down, MTU 1400), its peer in netns ``outside`` with
    192.0.2.1/24."""
    tag = uuid.uuid4().hex[:6]
    nic, outside = f"vaf{tag}", f"vafo-{tag}"
    sh("ip", "netns", "add", outside)
    try:
        assert sh("ip", "link", "add", nic, "mtu", "1400", "type", "veth", "peer", "name",
                  "lan0", "netns", outside).returncode == 0  # fmt: skip
        for cmd in (("link", "set", "lan0", "up"), ("addr", "add", "192.0.2.1/24", "dev", "lan0")):
            assert sh("ip", "-n", outside, *cmd).returncode == 0
        yield nic, outside
    finally:
        sh("ip", "link", "del", nic)
        sh("ip", "netns", "del", outside)


@root_only
def test_host_interface_binds_a_linux_interface_and_answers_on_it(
    sock_path: str, wire: tuple[str, str]
) -> None:
    nic, outside = wire
    thread = SimThread(sock_path, linux_taps=True)
    thread.start()
    client = papi_client(sock_path)
    vpp = client.api
    try:
        missing = vpp.af_packet_create_v3(mode=ETHERNET, host_if_name="vafnone0")
        assert (missing.retval, missing.sw_if_index) == (-71, 0)
        reply = vpp.af_packet_create_v3(mode=ETHERNET, use_random_hw_addr=True, host_if_name=nic)
        assert reply.retval == 0
        with IPRoute() as ipr:
            (link,) = ipr.get_links(ipr.link_lookup(ifname=nic)[0])
            assert link["flags"] & 1, "the Linux interface was not set up (IFF_UP)"
        itf = interfaces(vpp)[f"host-{nic}"]
        assert int(itf.link_mtu) == 1400  # the Linux interface's MTU
        index = reply.sw_if_index
        assert vpp.sw_interface_add_del_address(
            sw_if_index=index, is_add=True, prefix="192.0.2.10/24"
        ).retval == 0  # fmt: skip
        assert vpp.sw_interface_set_flags(sw_if_index=index, flags=1).retval == 0
        # The outside resolves VPP's address by ARP on the wire and gets its echo replies.
        assert ping(outside, "192.0.2.10")
        neighbours = sh("ip", "-n", outside, "neigh", "show", "192.0.2.10").stdout
        assert str(itf.l2_address) in neighbours
        assert vpp.af_packet_delete(host_if_name=nic).retval == 0
        assert not ping(outside, "192.0.2.10")  # nothing answers once it is gone
    finally:
        client.disconnect()
        thread.close()


async def test_the_snapshot_knows_host_interfaces(sim: SimThread) -> None:
    async with VPPClient(sim.path, name="snap") as client:
        made = await client.call(
            "af_packet_create_v3", mode=ETHERNET, use_random_hw_addr=True, host_if_name="eth7"
        )
        await client.call("create_loopback", mac_address="00:00:00:00:00:00")
        snap = await read_snapshot(client, "n")
    by_name = {i.name: i for i in snap.interfaces}
    host = by_name["host-eth7"]
    assert (host.sw_if_index, host.kind, host.host_if_name) == (
        made.sw_if_index,
        "af_packet",
        "eth7",
    )
    assert (by_name["loop0"].kind, by_name["loop0"].host_if_name) == ("loopback", "")
