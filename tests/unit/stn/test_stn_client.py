"""Decoding the daemon's replies into the typed record the agent uses, and bad replies."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network

import pytest

from contivpp.errors import STNError
from contivpp.stn.client import StolenInterface, StolenRoute, interface_from_reply
from contivpp.stn.daemon import reply_from_config
from contivpp.stn.nic import NicConfig, Route
from contivpp.stn.proto import stn_pb2


def test_a_record_travels_to_the_agent_typed() -> None:
    config = NicConfig(
        name="eth0",
        mac="02:00:00:5e:00:53",
        mtu=1500,
        up=True,
        addresses=("192.0.2.10/24",),
        routes=(Route("0.0.0.0/0", "192.0.2.1", metric=100), Route("203.0.113.0/24", "")),
        pci_address="0000:00:08.0",
        kernel_driver="virtio-pci",
    )
    wire = stn_pb2.STNReply.FromString(reply_from_config(config).SerializeToString())
    assert interface_from_reply("eth0", wire) == StolenInterface(
        name="eth0",
        pci_address="0000:00:08.0",
        kernel_driver="virtio-pci",
        addresses=(ip_interface("192.0.2.10/24"),),
        routes=(
            StolenRoute(ip_network("0.0.0.0/0"), ip_address("192.0.2.1")),
            StolenRoute(ip_network("203.0.113.0/24"), None),
        ),
    )


def test_an_error_reply_is_an_stn_error() -> None:
    reply = stn_pb2.STNReply(result=1, error="interface 'eth9': no such interface")
    with pytest.raises(STNError, match=r"^STN daemon: eth9: interface 'eth9': no such interface$"):
        interface_from_reply("eth9", reply)


def test_a_malformed_reply_is_named() -> None:
    reply = stn_pb2.STNReply(result=0, ip_addresses=["192.0.2.300/24"])
    with pytest.raises(STNError, match=r"^STN daemon: eth0: bad reply: '192\.0\.2\.300/24'"):
        interface_from_reply("eth0", reply)
