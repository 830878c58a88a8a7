"""Small pieces: the interface name index and VPP's two numbering schemes."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace

import pytest

from contivpp.errors import VPPError
from contivpp.vpp.client import Message, to_message
from contivpp.vpp.ifindex import InterfaceIndex
from contivpp.vpp.sim.pools import Bitmap, Pool


def test_interface_index_keeps_names_and_indices_one_to_one() -> None:
    index = InterfaceIndex()
    index.put("pod-a", 1)
    index.put("pod-b", 2)
    index.put("pod-a", 3)  # re-created with a new index
    index.put("pod-c", 2)  # VPP reused index 2 for another interface
    assert dict(index.items()) == {"pod-a": 3, "pod-c": 2}
    assert index.name_of(1) is None and index.name_of(2) == "pod-c"
    index.remove("pod-c")
    assert "pod-c" not in index and len(index) == 1
    with pytest.raises(VPPError):
        index.require("pod-c")
    details = [
        SimpleNamespace(tag="", interface_name="local0", sw_if_index=0),
        SimpleNamespace(tag="uplink", interface_name="tap0", sw_if_index=1),
    ]
    index.rebuild(details)
    assert dict(index.items()) == {"local0": 0, "uplink": 1}


def test_pool_reuses_last_freed_and_bitmap_lowest_free() -> None:
    pool = Pool()
    assert [pool.alloc() for _ in range(4)] == [0, 1, 2, 3]
    pool.release(1)
    pool.release(2)
    assert [pool.alloc(), pool.alloc(), pool.alloc()] == [2, 1, 4]
    bitmap = Bitmap()
    for n in (0, 1, 3):
        bitmap.take(n)
    assert bitmap.first_free() == 2
    bitmap.release(0)
    assert bitmap.first_free() == 0


def test_message_wraps_decoded_tuples_as_plain_data() -> None:
    inner = namedtuple("inner", ["a"])
    # vpp_papi builds its tuples with rename=True, which turns _vl_msg_id into _0.
    outer = namedtuple(
        "sw_interface_details", ["_vl_msg_id", "context", "sub", "items"], rename=True
    )
    msg = to_message(outer(99, 5, inner(1), [inner(2)]))
    assert msg == Message(
        "sw_interface_details", {"context": 5, "sub": {"a": 1}, "items": [{"a": 2}]}
    )
    assert msg.sub == {"a": 1} and msg["context"] == 5 and msg.get("nope", 0) == 0
    with pytest.raises(AttributeError):
        _ = msg.nope
