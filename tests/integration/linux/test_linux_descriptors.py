"""Linux route / ARP descriptors against a real network namespace (root only)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from contivpp.linux.descriptors import (
    LinuxNeighborDescriptor,
    LinuxRouteDescriptor,
    NetnsGone,
)
from contivpp.model import keys
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.reconcile.api import Correlated

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def pod_netns() -> Iterator[str]:
    name = f"ctvt-{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", name)
    try:
        # veth, not dummy: CI kernels may lack the dummy module
        sh("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
        sh("ip", "-n", name, "link", "set", "peer0", "up")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "addr", "add", "10.1.1.2/32", "dev", "eth0")
        yield f"/var/run/netns/{name}"
    finally:
        sh("ip", "netns", "del", name)


async def test_routes_link_then_default_and_retrieve(pod_netns: str) -> None:
    desc = LinuxRouteDescriptor()
    link = LinuxRoute(pod_netns, "eth0", "10.1.1.1/32")
    default = LinuxRoute(pod_netns, "eth0", "0.0.0.0/0", gateway="10.1.1.1")
    link_key, default_key = (
        keys.linux_route(pod_netns, link.dst),
        keys.linux_route(pod_netns, "0.0.0.0/0"),
    )
    await desc.create(link_key, link)
    await desc.create(default_key, default)
    name = os.path.basename(pod_netns)
    routes = sh("ip", "-n", name, "route")
    assert "default via 10.1.1.1 dev eth0 proto static" in routes
    assert "10.1.1.1 dev eth0 proto static scope link" in routes
    got = await desc.retrieve([Correlated(link_key, link), Correlated(default_key, default)])
    assert {r.key: r.value for r in got} == {link_key: link, default_key: default}
    await desc.delete(default_key, default, None)
    await desc.delete(default_key, default, None)  # deleting twice is fine
    assert "default" not in sh("ip", "-n", name, "route")
    assert [r.key for r in await desc.retrieve([Correlated(default_key, default)])] == []


async def test_neighbor(pod_netns: str) -> None:
    desc = LinuxNeighborDescriptor()
    value = LinuxNeighbor(pod_netns, "eth0", "10.1.1.1", "02:fe:00:00:00:01")
    key = keys.linux_neighbor(pod_netns, "eth0", value.ip)
    await desc.create(key, value)
    name = os.path.basename(pod_netns)
    assert "10.1.1.1 dev eth0 lladdr 02:fe:00:00:00:01 PERMANENT" in sh("ip", "-n", name, "neigh")
    assert [r.value for r in await desc.retrieve([Correlated(key, value)])] == [value]
    await desc.delete(key, value, None)
    assert "10.1.1.1" not in sh("ip", "-n", name, "neigh")


async def test_vanished_netns_is_final_for_create_and_fine_for_delete() -> None:
    gone = LinuxRoute("/var/run/netns/ctvt-never-existed", "eth0", "0.0.0.0/0", gateway="10.1.1.1")
    desc = LinuxRouteDescriptor()
    with pytest.raises(NetnsGone) as info:
        await desc.create(keys.linux_route(gone.netns, gone.dst), gone)
    assert not desc.is_retriable(info.value)
    assert not os.path.exists(gone.netns), "a missing netns must never be created"
    await desc.delete(keys.linux_route(gone.netns, gone.dst), gone, None)
    assert await desc.retrieve([Correlated(keys.linux_route(gone.netns, gone.dst), gone)]) == []


async def test_missing_interface_is_retriable(pod_netns: str) -> None:
    desc = LinuxRouteDescriptor()
    value = LinuxRoute(pod_netns, "eth9", "10.1.1.1/32")
    with pytest.raises(Exception) as info:
        await desc.create(keys.linux_route(pod_netns, value.dst), value)
    assert "eth9 not found" in str(info.value) and desc.is_retriable(info.value)
