"""The uplink (main interface): its config, how STN's stolen details become it, and what the
node and NAT renderers make of it.

Expected values are written out from the design (Contiv's main VPP interface: the node's
address on the NIC, the default route via its gateway, the NIC's other routes, NAT44 with the
uplink as the output-feature interface and its address as the pool), not computed with the
code under test. Node 1 of the default plan as in test_services_render: host link VPP end
172.30.1.1, VXLAN source 192.168.16.1, NAT loopback 10.1.1.254.
"""

from __future__ import annotations

import json
from ipaddress import ip_address, ip_interface, ip_network

import attrs
import pytest

from contivpp.agent.settings import settings_from_mapping
from contivpp.config import AgentConfig, MainInterface, UplinkRoute
from contivpp.errors import ConfigError, STNError
from contivpp.events import k8s
from contivpp.events.log import Header, parse_header
from contivpp.model.nat import (
    Nat44AddressPool,
    Nat44IdentityMapping,
    Nat44Interface,
    Nat44StaticMapping,
)
from contivpp.model.vpp import AfPacketLink, Interface, Route
from contivpp.renderers.node import render_node_base
from contivpp.renderers.services import render_nat_node, render_service, service_context
from contivpp.stn.client import StolenInterface, StolenRoute

UPLINK = MainInterface(
    "nic0", "192.0.2.10/24", "192.0.2.1", (UplinkRoute("198.51.100.0/24", "192.0.2.254"),)
)
CONFIG = AgentConfig("node-1", main_interface=UPLINK)


def stolen(addresses: tuple[str, ...], routes: tuple[tuple[str, str], ...]) -> StolenInterface:
    return StolenInterface(
        name="nic0",
        pci_address="",
        kernel_driver="veth",
        addresses=tuple(ip_interface(a) for a in addresses),
        routes=tuple(StolenRoute(ip_network(d), ip_address(v) if v else None) for d, v in routes),
    )


def test_the_stolen_nic_becomes_the_uplink() -> None:
    # what the STN tests' NIC has: the daemon reports no kernel (connected) routes
    nic = stolen(
        ("192.0.2.10/24", "2001:db8::10/64"),
        (
            ("0.0.0.0/0", "192.0.2.1"),
            ("198.51.100.0/24", "192.0.2.254"),
            ("203.0.113.0/24", ""),
            ("192.0.2.0/24", ""),  # a link route equal to the connected one: left out
            ("2001:db8:1::/48", "2001:db8::1"),
        ),
    )
    assert nic.main_interface() == MainInterface(
        "nic0",
        "192.0.2.10/24",
        "192.0.2.1",
        (UplinkRoute("198.51.100.0/24", "192.0.2.254"), UplinkRoute("203.0.113.0/24", "")),
    )


def test_a_nic_without_ipv4_or_with_a_gateway_elsewhere_cannot_be_the_uplink() -> None:
    with pytest.raises(STNError, match=r"nic0 had no IPv4 address.*DHCP"):
        stolen(("2001:db8::10/64",), ()).main_interface()
    with pytest.raises(STNError, match=r"gateway: 10\.0\.0\.1 is not in 192\.0\.2\.0/24"):
        stolen(("192.0.2.10/24",), (("0.0.0.0/0", "10.0.0.1"),)).main_interface()


def test_the_event_log_header_carries_it_only_when_set() -> None:
    assert "mainInterface" not in AgentConfig("node-1").overrides_json()
    header = Header("node-1", CONFIG).to_json()
    assert header["config"]["mainInterface"] == {  # type: ignore[index]
        "interface": "nic0",
        "address": "192.0.2.10/24",
        "gateway": "192.0.2.1",
        "routes": [{"dst": "198.51.100.0/24", "via": "192.0.2.254"}],
    }
    assert parse_header(1, json.dumps(header)).config.main_interface == UPLINK


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"address": "192.0.2.10/24"}, r"mainInterface\.interface: required"),
        ({"interface": "a/b", "address": "192.0.2.10/24"}, "must be a Linux interface name"),
        ({"interface": "nic0", "address": "192.0.2.10"}, "with its prefix length"),
        ({"interface": "nic0", "address": "192.0.2.0/24"}, "IPv4 host address"),
        ({"interface": "nic0", "address": "192.0.2.10/24", "gateway": "x"}, "gateway: must be"),
        ({"interface": "nic0", "address": "192.0.2.10/24", "routes": [{"dst": "0.0.0.0/0"}]},
         r"routes\[0\]\.dst: must be an IPv4 network other than 0\.0\.0\.0/0"),
        ({"interface": "nic0", "address": "192.0.2.10/24", "mtu": 1500},
         r"mainInterface\.mtu: unknown setting"),
    ],
)  # fmt: skip
def test_bad_main_interface_settings_are_named(value: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_mapping({"nodeName": "n", "mainInterface": value})


def test_main_interface_from_the_config_file_and_not_with_stn() -> None:
    raw = {"interface": "nic0", "address": "192.0.2.10/24", "gateway": "192.0.2.1"}
    settings = settings_from_mapping({"nodeName": "n", "mainInterface": raw})
    assert settings.agent.main_interface == MainInterface("nic0", "192.0.2.10/24", "192.0.2.1")
    with pytest.raises(ConfigError, match="mainInterface: not with stn"):
        settings_from_mapping(
            {"nodeName": "n", "mainInterface": raw, "stn": {"socket": "/s", "interface": "nic0"}}
        )


def test_the_node_gets_the_uplink_its_address_and_routes() -> None:
    out = render_node_base(CONFIG, 1, ())
    assert out["vpp/interface/uplink"] == Interface(
        name="uplink",
        kind="af_packet",
        vrf=0,
        ip_addresses=("192.0.2.10/24",),
        af_packet=AfPacketLink("nic0"),
    )
    assert out["vpp/route/vrf/0/dst/0.0.0.0/0/via/192.0.2.1/dev/uplink"] == Route(
        vrf=0, dst="0.0.0.0/0", next_hop="192.0.2.1", out_interface="uplink"
    )
    assert out["vpp/route/vrf/0/dst/198.51.100.0/24/via/192.0.2.254/dev/uplink"] == Route(
        vrf=0, dst="198.51.100.0/24", next_hop="192.0.2.254", out_interface="uplink"
    )
    without = render_node_base(AgentConfig("node-1"), 1, ())
    assert set(out) - set(without) == {
        "vpp/interface/uplink",
        "vpp/route/vrf/0/dst/0.0.0.0/0/via/192.0.2.1/dev/uplink",
        "vpp/route/vrf/0/dst/198.51.100.0/24/via/192.0.2.254/dev/uplink",
    }


def test_nat_with_an_uplink_source_nats_to_the_node_address_on_it() -> None:
    ctx = service_context(CONFIG, 1, [])
    assert (ctx.snat_ip, ctx.vpp_ips) == (
        "192.0.2.10",
        ("192.168.16.1", "172.30.1.1", "192.0.2.10"),
    )
    out = render_nat_node(ctx)
    roles = {k: v for k, v in out.items() if k.startswith("vpp/nat44/interface/")}
    assert roles == {
        "vpp/nat44/interface/uplink": Nat44Interface("uplink", output=True),
        "vpp/nat44/interface/tap-vpp2": Nat44Interface("tap-vpp2", inside=True, outside=True),
        "vpp/nat44/interface/vxlanBVI": Nat44Interface("vxlanBVI", inside=True, outside=True),
    }
    pools = {k for k in out if k.startswith("vpp/nat44/address-pool/snat/")}
    assert pools == {"vpp/nat44/address-pool/snat/192.0.2.10-192.0.2.10"}
    assert out["vpp/nat44/address-pool/snat/192.0.2.10-192.0.2.10"] == Nat44AddressPool(
        "192.0.2.10"
    )
    # VPP's own traffic on the node address is not translated (identity mapping)
    assert out["vpp/nat44/identity-mapping/vrf/0/192.0.2.10/all"] == Nat44IdentityMapping(
        ip="192.0.2.10"
    )
    off = attrs.evolve(CONFIG, nat_external_traffic=False)
    out = render_nat_node(service_context(off, 1, []))
    assert out["vpp/nat44/interface/uplink"] == Nat44Interface("uplink", inside=True, outside=True)
    assert not any(k.startswith("vpp/nat44/address-pool/snat/") for k in out)


def test_a_node_port_answers_on_the_uplink_address() -> None:
    service = k8s.Service(
        namespace="prod",
        name="web",
        cluster_ip="10.96.0.10",
        type="NodePort",
        ports=(k8s.ServicePort("http", "TCP", 80, "web", node_port=30080),),
    )
    slices = [
        k8s.EndpointSlice(
            "prod", "web-a", "web", "IPv4",
            (k8s.Endpoint(("10.1.1.2",), node_name="node-1"),),
            (k8s.EndpointPort("http", 8080, "TCP"),),
        )
    ]  # fmt: skip
    out = render_service(service_context(CONFIG, 1, []), service, slices)
    mapping = out["vpp/nat44/static-mapping/192.0.2.10/tcp/30080"]
    assert isinstance(mapping, Nat44StaticMapping)
    assert (mapping.local_ip, mapping.local_port, mapping.external_port) == (
        "10.1.1.2",
        8080,
        30080,
    )


def test_a_host_interface_keeps_the_mtu_of_its_linux_nic() -> None:
    from contivpp.model import keys
    from contivpp.vpp.client import VPPClient
    from contivpp.vpp.descriptors.interface import InterfaceDescriptor

    descriptor = InterfaceDescriptor(VPPClient("/nonexistent/api.sock"))
    wanted = Interface("uplink", "af_packet", af_packet=AfPacketLink("nic0"))
    read_back = attrs.evolve(wanted, mtu=1500)  # what VPP read from Linux
    key = keys.interface("uplink")
    assert descriptor.equivalent(key, read_back, wanted)
    assert not descriptor.equivalent(key, read_back, attrs.evolve(wanted, mtu=9000))
    loop = Interface("lo", "loopback")  # other kinds: 0 means VPP's default, 9000
    assert not descriptor.equivalent(key, attrs.evolve(loop, mtu=1500), loop)
