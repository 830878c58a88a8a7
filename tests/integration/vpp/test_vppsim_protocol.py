"""The simulator's socket transport as real vpp_papi clients (sync and async) see it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import threading
from typing import Any

import pytest
from vpp_papi import vpp_papi_async
from vppsim_helpers import NO_INDEX, SimThread, papi_client

from contivpp.vpp.apidefs import load
from contivpp.vpp.sim.protocol import MessageTable

HEADER = struct.Struct(">QII")


def test_handshake_announces_every_packaged_message(vpp_client: Any, sim: SimThread) -> None:
    defs = load()
    table = vpp_client.transport.message_table
    assert vpp_client.transport.socket_index & 0x80000000
    assert set(table) == {m.name_crc for m in defs.messages.values()}
    # vpp_papi hard-codes the handshake ids; memclnt keeps VPP's fixed ids 1..28.
    assert table["sockclnt_create_" + defs.message("sockclnt_create").crc[2:]] == 15
    memclnt = defs.module_messages["memclnt"]
    assert sorted(table[defs.message(n).name_crc] for n in memclnt) == list(range(1, 29))
    assert hasattr(vpp_client.api, "proxy_arp_add_del")


def test_show_version_ping_and_goodbye(vpp_client: Any) -> None:
    version = vpp_client.api.show_version()
    assert version.retval == 0 and version.program == "vpe" and version.version
    ping = vpp_client.api.control_ping()
    assert ping.retval == 0 and ping.vpe_pid == os.getpid()
    assert vpp_client.api.memclnt_keepalive().retval == 0
    bye = vpp_client.disconnect()
    assert bye.response == 1


def test_bootstrap_from_get_api_json(sim: SimThread) -> None:
    client = papi_client(sim.path, bootstrapapi=True)
    try:
        reply = client.api.get_api_json()
        modules = {m["module"] for m in json.loads(reply.json)}
        assert {"memclnt", "interface", "ip", "nat44_ed", "acl", "vxlan", "arp"} <= modules
        assert client.api.create_loopback().sw_if_index == 1
    finally:
        client.disconnect()


async def test_stock_async_vpp_papi_client(sim: SimThread) -> None:
    client = vpp_papi_async.VPPApiClient(server_address=sim.path)
    assert await client.connect("stock-async", asyncio.Queue()) == 0
    version = await client.api.show_version()
    assert version.program == "vpe"
    created = await client.api.create_loopback()
    ping, details = await client.api.sw_interface_dump()
    assert ping.retval == 0
    assert [d.interface_name for d in details] == ["local0", "loop0"]
    assert details[1].sw_if_index == created.sw_if_index
    bye = await client.disconnect()
    assert bye.response == 1


def test_two_clients_share_one_vpp_and_both_get_events(sim: SimThread) -> None:
    a, b = papi_client(sim.path, "a"), papi_client(sim.path, "b")
    got: dict[str, list[Any]] = {"a": [], "b": []}
    seen = threading.Event()

    def collector(name: str) -> Any:
        def cb(msg_name: str, msg: Any) -> None:
            got[name].append(msg)
            if got["a"] and got["b"]:
                seen.set()

        return cb

    try:
        assert a.transport.socket_index != b.transport.socket_index
        a.register_event_callback(collector("a"))
        b.register_event_callback(collector("b"))
        assert a.api.want_interface_events(enable_disable=1, pid=11).retval == 0
        assert b.api.want_interface_events(enable_disable=1, pid=22).retval == 0
        # Subscribing twice (or unsubscribing when not subscribed) is INVALID_REGISTRATION.
        assert b.api.want_interface_events(enable_disable=1, pid=22).retval == -31
        loop = a.api.create_loopback().sw_if_index
        assert seen.wait(5)
        assert [(e.sw_if_index, e.pid, e.deleted) for e in got["a"]] == [(loop, 11, False)]
        assert [(e.sw_if_index, e.pid) for e in got["b"]] == [(loop, 22)]
        assert got["a"][0].client_index == a.transport.socket_index
        names = [d.interface_name for d in b.api.sw_interface_dump()]
        assert names == ["local0", "loop0"]
        assert b.api.want_interface_events(enable_disable=0, pid=22).retval == 0
        assert b.api.want_interface_events(enable_disable=0, pid=22).retval == -31
    finally:
        a.disconnect()
        b.disconnect()


def test_unimplemented_messages_get_an_error_not_silence(vpp: Any) -> None:
    assert vpp.bond_create2(mode=1).retval == -9
    # An old-style dump the simulator does not serve ends (empty) with its ping.
    assert vpp.af_packet_dump() == []
    assert vpp.show_version().retval == 0  # the connection is still fine


class RawClient:
    """Speaks the framing by hand, to test what vpp_papi never sends."""

    def __init__(self, path: str) -> None:
        self.table = MessageTable(load())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buf = b""

    def pack(self, name: str, **fields: Any) -> bytes:
        return self.table.encode(name, fields)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, body: bytes) -> bytes:
        return HEADER.pack(0, len(body), 0) + body

    def recv(self) -> tuple[str, Any]:
        while len(self.buf) < 16 or len(self.buf) < 16 + HEADER.unpack(self.buf[:16])[1]:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self.buf += chunk
        length = HEADER.unpack(self.buf[:16])[1]
        body, self.buf = self.buf[16 : 16 + length], self.buf[16 + length :]
        mdef = self.table.lookup(body)
        assert mdef is not None
        return mdef.name, self.table.decode(mdef, body)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(sim: SimThread) -> Any:
    client = RawClient(sim.path)
    yield client
    client.close()


def test_byte_stream_is_reassembled(raw: RawClient) -> None:
    ping = raw.frame(raw.pack("control_ping", context=7))
    version = raw.frame(raw.pack("show_version", context=8))
    # Header and body in separate writes, then two messages in one write, then one byte at a time.
    raw.send_raw(ping[:16])
    raw.send_raw(ping[16:])
    raw.send_raw(ping + version)
    for byte in version:
        raw.send_raw(bytes([byte]))
    names = [raw.recv() for _ in range(4)]
    assert [(n, m.context) for n, m in names] == [
        ("control_ping_reply", 7),
        ("control_ping_reply", 7),
        ("show_version_reply", 8),
        ("show_version_reply", 8),
    ]


def test_unknown_ids_are_dropped_and_short_bodies_rejected(raw: RawClient) -> None:
    raw.send_raw(raw.frame(struct.pack(">HII", 65000, 0, 5)))
    # acl_add_replace announcing 3 rules but carrying none: INVALID_VALUE, context echoed.
    body = raw.pack("acl_add_replace", context=9, acl_index=NO_INDEX, count=0)
    count_at = 2 + 4 + 4 + 4 + 64
    body = body[:count_at] + struct.pack(">I", 3) + body[count_at + 4 :]
    raw.send_raw(raw.frame(body))
    raw.send_raw(raw.frame(raw.pack("control_ping", context=10)))
    name, reply = raw.recv()
    assert (name, reply.context, reply.retval) == ("acl_add_replace_reply", 9, -7)
    name, reply = raw.recv()
    assert (name, reply.context) == ("control_ping_reply", 10)


def test_sockclnt_delete_with_foreign_handle_is_refused(raw: RawClient) -> None:
    raw.send_raw(raw.frame(raw.pack("sockclnt_delete", context=3, index=12345)))
    name, reply = raw.recv()
    assert (name, reply.response) == ("sockclnt_delete_reply", -1)
    raw.send_raw(raw.frame(raw.pack("control_ping", context=4)))
    assert raw.recv()[0] == "control_ping_reply"
