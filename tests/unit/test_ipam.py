"""The address plan and the pod allocator."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import attrs
import pytest

from contivpp import ipam
from contivpp.config import AgentConfig, IPAMConfig
from contivpp.errors import ConfigError, IPAMError

CFG = IPAMConfig()


def test_contiv_defaults_per_node() -> None:
    assert ipam.node_pod_subnet(CFG, 5) == IPv4Network("10.1.5.0/24")
    assert ipam.pod_gateway(CFG, 5) == IPv4Address("10.1.5.1")
    assert ipam.nat_loopback(CFG, 5) == IPv4Address("10.1.5.254")
    assert ipam.vpp_host_subnet(CFG, 5) == IPv4Network("172.30.5.0/24")
    assert ipam.vpp_host_vpp_ip(CFG, 5) == IPv4Address("172.30.5.1")
    assert ipam.vpp_host_linux_ip(CFG, 5) == IPv4Address("172.30.5.2")
    assert ipam.node_interconnect_ip(CFG, 5) == IPv4Address("192.168.16.5")
    assert ipam.vxlan_ip(CFG, 5) == IPv4Address("192.168.30.5")


@pytest.mark.parametrize("node_id", [0, 256, -1])
def test_ids_that_do_not_fit_are_refused(node_id: int) -> None:
    with pytest.raises(IPAMError, match=f"node ID {node_id}"):
        ipam.node_pod_subnet(CFG, node_id)


def test_config_rejects_bad_prefix_and_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="podSubnetOneNodePrefixLen"):
        IPAMConfig.from_json({"podSubnetOneNodePrefixLen": 8})
    with pytest.raises(ConfigError, match=r"ipam\.podSubnet: unknown setting"):
        IPAMConfig.from_json({"podSubnet": "10.0.0.0/8"})
    with pytest.raises(ConfigError, match=r"ipam\.vxlanCIDR"):
        IPAMConfig.from_json({"vxlanCIDR": "300.1.1.0/24"})
    assert IPAMConfig.from_json(CFG.to_json()) == CFG


def test_allocation_is_round_robin_and_sticky() -> None:
    alloc = ipam.PodAllocator(IPv4Network("10.1.1.0/24"))
    alloc, a = alloc.allocate(("ns", "a"))
    alloc, b = alloc.allocate(("ns", "b"))
    assert (str(a), str(b)) == ("10.1.1.2", "10.1.1.3")
    again, a2 = alloc.allocate(("ns", "a"))
    assert a2 == a and again == alloc
    alloc = alloc.release(("ns", "a"))
    alloc, c = alloc.allocate(("ns", "c"))
    assert str(c) == "10.1.1.4", "a released address must not be reused right away"


def test_allocation_wraps_and_exhausts() -> None:
    alloc = ipam.PodAllocator(IPv4Network("10.1.1.0/29"))  # hosts .2 .. .5 (.1 gw, .6 NAT loop)
    pods = [("ns", f"p{i}") for i in range(4)]
    for pod in pods:
        alloc, _ = alloc.allocate(pod)
    with pytest.raises(IPAMError, match="exhausted"):
        alloc.allocate(("ns", "extra"))
    alloc = alloc.release(pods[1])
    alloc, ip = alloc.allocate(("ns", "extra"))
    assert str(ip) == "10.1.1.3"


def test_claim_refuses_conflicts() -> None:
    alloc = ipam.PodAllocator(IPv4Network("10.1.1.0/24"))
    alloc = alloc.claim(("ns", "a"), IPv4Address("10.1.1.9"))
    with pytest.raises(IPAMError, match="held by ns/a"):
        alloc.claim(("ns", "b"), IPv4Address("10.1.1.9"))
    with pytest.raises(IPAMError, match="outside"):
        alloc.claim(("ns", "b"), IPv4Address("10.1.2.9"))
    with pytest.raises(IPAMError, match="reserved"):
        alloc.claim(("ns", "b"), IPv4Address("10.1.1.1"))
    alloc, nxt = alloc.allocate(("ns", "b"))
    assert str(nxt) == "10.1.1.10"


def test_nat_external_traffic_is_on_by_default_and_round_trips() -> None:
    assert AgentConfig("n").nat_external_traffic is True
    off = AgentConfig.from_overrides("n", {"natExternalTraffic": False})
    assert off.nat_external_traffic is False
    # The default is left out of event-log headers, so logs recorded before it existed
    # (and their golden files) stay byte-identical.
    assert "natExternalTraffic" not in AgentConfig("n").overrides_json()
    assert AgentConfig.from_overrides("n", off.overrides_json()) == off
    with pytest.raises(ConfigError, match=r"config\.natExternalTraffic: expected a boolean"):
        AgentConfig.from_overrides("n", {"natExternalTraffic": 1})


#: A non-default value for every setting that shapes rendering (literal data).
_EVERY_RENDERING_SETTING: dict[str, object] = {
    "ipam": {
        "podSubnetCIDR": "10.2.0.0/16",
        "podSubnetOneNodePrefixLen": 25,
        "vppHostSubnetCIDR": "172.31.0.0/16",
        "vppHostSubnetOneNodePrefixLen": 26,
        "nodeInterconnectCIDR": "192.168.50.0/24",
        "vxlanCIDR": "192.168.60.0/24",
        "serviceCIDR": "10.97.0.0/16",
    },
    "mtu": 9000,
    "mainVRFID": 5,
    "podVRFID": 7,
    "vxlanVNI": 4242,
    "natExternalTraffic": False,
    "routeServiceCIDRToVPP": True,
    "mainInterface": {
        "interface": "ens3",
        "address": "198.18.0.5/24",
        "gateway": "198.18.0.1",
        "routes": [{"dst": "198.19.0.0/16", "via": "198.18.0.254"}],
    },
}


def test_every_rendering_setting_survives_the_event_log_header() -> None:
    """A replay renders with the header's config: a setting left out renders other values."""
    config = AgentConfig.from_overrides("n", _EVERY_RENDERING_SETTING)
    assert AgentConfig.from_overrides("n", config.overrides_json()) == config
    # Every attribute but the process-level ones is covered by the literal above, so a new
    # rendering setting fails here until the header carries it.
    process_level = {"node_name", "event_log"}
    covered = {f.name for f in attrs.fields(AgentConfig)} - process_level
    assert covered == {
        "ipam",
        "mtu",
        "main_vrf",
        "pod_vrf",
        "vxlan_vni",
        "nat_external_traffic",
        "main_interface",
        "route_service_cidr_to_vpp",
    }
    assert config.vxlan_vni == 4242
    assert config.main_interface is not None and config.main_interface.gateway == "198.18.0.1"


def test_route_service_cidr_to_vpp_is_off_by_default_and_extends_the_header_only_when_on() -> None:
    assert AgentConfig("n").route_service_cidr_to_vpp is False
    assert "routeServiceCIDRToVPP" not in AgentConfig("n").overrides_json()
    on = AgentConfig.from_overrides("n", {"routeServiceCIDRToVPP": True})
    assert on.route_service_cidr_to_vpp is True
    assert on.overrides_json()["routeServiceCIDRToVPP"] is True
    assert AgentConfig.from_overrides("n", on.overrides_json()) == on
    with pytest.raises(ConfigError, match=r"config\.routeServiceCIDRToVPP: expected a boolean"):
        AgentConfig.from_overrides("n", {"routeServiceCIDRToVPP": "yes"})
