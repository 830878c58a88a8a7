"""``--linux-taps``: the simulator's taps exist on the host, as VPP's do (needs root)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2 import IPRoute, netns
from vppsim_helpers import NO_INDEX, SimThread, papi_client

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating taps and netns needs root")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"vppsim-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    yield name
    netns.remove(name)


@pytest.fixture
def linux_sim(sock_path: str) -> Iterator[SimThread]:
    thread = SimThread(sock_path, linux_taps=True)
    thread.start()
    yield thread
    thread.close()


def links(ns: str | None) -> dict[str, Any]:
    with IPRoute(netns=ns) as ipr:
        return {link.get("ifname"): link for link in ipr.get_links()}


def addresses(ns: str, ifname: str) -> list[str]:
    with IPRoute(netns=ns) as ipr:
        (index,) = ipr.link_lookup(ifname=ifname)
        return [f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=2)]


def test_tap_appears_in_its_namespace_and_goes_away(linux_sim: SimThread, namespace: str) -> None:
    host_name = f"vst{uuid.uuid4().hex[:8]}"
    client = papi_client(linux_sim.path)
    try:
        reply = client.api.tap_create_v3(
            id=NO_INDEX,
            host_if_name_set=True,
            host_if_name=host_name,
            host_namespace_set=True,
            host_namespace=namespace,
            host_mac_addr_set=True,
            host_mac_addr="02:aa:bb:cc:dd:01",
            host_ip4_prefix_set=True,
            host_ip4_prefix="10.11.0.5/24",
            host_mtu_set=True,
            host_mtu_size=1400,
        )
        assert reply.retval == 0
        link = links(namespace)[host_name]
        assert (link.get("address"), link.get("mtu")) == ("02:aa:bb:cc:dd:01", 1400)
        assert addresses(namespace, host_name) == ["10.11.0.5/24"]
        assert host_name not in links(None)  # moved out of the root namespace
        missing_ns = client.api.tap_create_v3(
            id=NO_INDEX,
            host_if_name_set=True,
            host_if_name=f"{host_name}x",
            host_namespace_set=True,
            host_namespace="no-such-netns",
        )
        assert missing_ns.retval == -12
        assert client.api.tap_delete_v2(sw_if_index=reply.sw_if_index).retval == 0
        assert host_name not in links(namespace)
    finally:
        client.disconnect()


def test_taps_vanish_when_the_simulator_stops(linux_sim: SimThread) -> None:
    host_name = f"vst{uuid.uuid4().hex[:8]}"
    client = papi_client(linux_sim.path)
    try:
        assert (
            client.api.tap_create_v3(
                id=NO_INDEX, host_if_name_set=True, host_if_name=host_name
            ).retval
            == 0
        )
        assert links(None)[host_name].get("state") == "up"
    finally:
        client.disconnect()
    linux_sim.stop()  # like VPP exiting: the kernel drops the tap with VPP's file descriptor
    assert host_name not in links(None)
