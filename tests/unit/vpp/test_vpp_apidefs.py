"""The packaged API definitions and the simulator's message table / codec built from them."""

from __future__ import annotations

import json
import struct

import pytest

from contivpp.vpp.apidefs import API_DIR, load
from contivpp.vpp.papi import complete
from contivpp.vpp.sim.protocol import DecodeError, MessageTable, body_length, frame


def test_packaged_definitions_are_complete() -> None:
    defs = load()
    assert defs.api_dir == API_DIR
    assert len(list(API_DIR.rglob("*.api.json"))) == 28
    for name in ("tap_create_v3", "proxy_arp_add_del", "nat44_add_del_lb_static_mapping"):
        assert name in defs.services
    dump = defs.service("sw_interface_dump")
    assert dump is not None and dump.stream and dump.stream_msg is None
    stream = defs.service("nat44_ed_output_interface_get")
    assert stream is not None and stream.stream_msg == "nat44_ed_output_interface_details"
    assert defs.message("control_ping").name_crc == "control_ping_51077d14"
    assert defs.message("proxy_arp_add_del").name_crc == "proxy_arp_add_del_1823c3e7"
    assert defs.module_order[0] == "memclnt"


def test_api_json_is_the_module_array_vpp_sends() -> None:
    modules = json.loads(load().api_json_array())
    assert [m["module"] for m in modules][:1] == ["memclnt"]
    assert all({"messages", "services", "types"} <= m.keys() for m in modules)


def test_message_table_follows_vpp_numbering() -> None:
    defs = load()
    table = MessageTable(defs)
    memclnt = defs.module_messages["memclnt"]
    assert [table.ids[n] for n in memclnt] == list(range(1, 29))
    assert table.ids["sockclnt_create"] == 15 and table.ids["sockclnt_create_reply"] == 16
    assert sorted(table.ids.values()) == list(range(1, len(defs.messages) + 1))
    assert {e["name"] for e in table.entries} == {m.name_crc for m in defs.messages.values()}


def test_encode_decode_round_trip_keeps_host_bits() -> None:
    table = MessageTable(load())
    rule = {
        "is_permit": 1,
        "src_prefix": {"address": {"af": 0, "un": {"ip4": b"\x0a\x01\x01\x05"}}, "len": 24},
        "dst_prefix": {"address": {"af": 0, "un": {"ip4": b"\0\0\0\0"}}, "len": 0},
    }
    body = table.encode("acl_add_replace", {"context": 42, "acl_index": 7, "count": 1, "r": [rule]})
    assert len(body) == 82 + 48  # the size the protocol reference gives
    mdef = table.lookup(body)
    assert mdef is not None and mdef.name == "acl_add_replace"
    assert MessageTable.raw_context(mdef, body) == 42
    decoded = MessageTable.decode(mdef, body)
    assert decoded.acl_index == 7
    assert bytes(decoded.r[0].src_prefix.address.un.ip4) == b"\x0a\x01\x01\x05"
    with pytest.raises(DecodeError):
        MessageTable.decode(mdef, body[:-10])
    framed = frame(body)
    assert body_length(framed[:16]) == len(body) and framed[16:] == body
    assert struct.unpack(">Q", framed[:8]) == (0,)
    assert table.lookup(b"\xff\xff") is None and table.lookup(b"") is None


def test_requests_get_counts_and_fixed_arrays_filled_in() -> None:
    messages = load().messages
    acl = complete(messages["acl_add_replace"].codec, {"acl_index": 1, "r": [{}, {}]})
    assert acl["count"] == 2
    route = complete(messages["ip_route_add_del"].codec, {"route": {"paths": [{"sw_if_index": 3}]}})
    (p,) = route["route"]["paths"]
    assert route["route"]["n_paths"] == 1 and p["sw_if_index"] == 3
    assert p["label_stack"] == [{}] * 16
    mtu = complete(messages["sw_interface_set_mtu"].codec, {"sw_if_index": 1})
    assert mtu["mtu"] == [0, 0, 0, 0]
    explicit = complete(messages["acl_add_replace"].codec, {"count": 5, "r": []})
    assert explicit["count"] == 5  # what the caller says wins
    # The packed request is what VPP expects.
    body = messages["ip_route_add_del"].codec.pack({"_vl_msg_id": 1, **route})
    assert len(body) == 39 + 167
