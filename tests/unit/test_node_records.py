"""Other nodes' ID records as the agent reads them from etcd (found by the fuzzer, issue 14).

``NodeRecord.from_json`` coerced instead of checking: ``"ip_addresses": [null]`` became the
address ``None``, ``"ip_addresses": "10.0.0.1"`` ten one-letter addresses, ``"name": 5`` the
node ``"5"``, ``"id": true`` node 1. Each now is an InputError naming the key (the watcher
skips the key with a log line), and the translator's memory of nodes is untouched.
"""

from __future__ import annotations

import pytest

from contivpp.agent.nodeid import NodeRecord
from contivpp.agent.nodes import AgentTranslator
from contivpp.errors import InputError
from contivpp.events.types import NodeIDAllocated

KEY = "/vnf-agent/contiv-ksr/allocatedIDs/7"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"id": 7, "name": "n7", "ip_addresses": [null]}', "'ip_addresses' must list strings"),
        (b'{"id": 7, "name": "n7", "ip_addresses": "10.0.0.1"}', "'ip_addresses' must list"),
        (b'{"id": 7, "name": 5}', "'name' must be a non-empty string"),
        (b'{"id": 7, "name": ""}', "'name' must be a non-empty string"),
        (b'{"id": true, "name": "n7"}', "'id' must be an integer"),
        (b'{"id": "7", "name": "n7"}', "'id' must be an integer"),
        (b'{"id": 7.0, "name": "n7"}', "'id' must be an integer"),
        (b'{"id": 1e999, "name": "n7"}', "'id' must be an integer"),
        (b"[7]", "'id' must be an integer"),
        (b"\xff", "malformed node-ID record"),
    ],
)
def test_malformed_records_are_named_and_leave_no_trace(value: bytes, reason: str) -> None:
    with pytest.raises(InputError) as info:
        NodeRecord.from_json(KEY, value)
    assert str(info.value).startswith(f"{KEY}: malformed node-ID record")
    assert reason in str(info.value)
    translator = AgentTranslator("node-1")
    translator.upsert(KEY, b'{"id": 7, "name": "n7", "ip_addresses": ["192.168.16.7/24"]}')
    with pytest.raises(InputError):
        translator.upsert(KEY, value)
    assert translator.nodes[7] == NodeRecord(7, "n7", ("192.168.16.7/24",))


def test_a_good_record() -> None:
    events = AgentTranslator("node-1").upsert(
        KEY, b'{"id": 7, "name": "n7", "ip_addresses": ["192.168.16.7/24"]}'
    )
    assert events == [NodeIDAllocated("n7", 7, ("192.168.16.7/24",))]
