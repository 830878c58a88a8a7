"""Small pieces of the datastore: endpoint parsing, prefix ranges, back-off, checkpoints."""

from __future__ import annotations

import json

import pytest

from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import parse_endpoints, prefix_end
from contivpp.datastore.watcher import Checkpoint, KnownKey, digest
from contivpp.errors import DatastoreError


def test_endpoints() -> None:
    assert parse_endpoints("127.0.0.1:2379") == (("127.0.0.1", 2379),)
    assert parse_endpoints("http://a:1, b:2/,") == (("a", 1), ("b", 2))
    assert parse_endpoints(["[::1]:32379"]) == (("::1", 32379),)
    for bad in ("", "host", "host:0", "host:http", ":2379", "a:1,b"):
        with pytest.raises(DatastoreError, match=r"endpoint|no etcd"):
            parse_endpoints(bad)


def test_prefix_end() -> None:
    assert prefix_end("/a/") == b"/a0"
    assert prefix_end("ab") == b"ac"
    assert prefix_end("a\xff") == "a\xff".encode()[:-1] + b"\xc0"  # utf-8 bytes, last byte +1


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, jitter=0.0)
    assert [round(backoff.next_delay(), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.1
    jittery = Backoff(initial=1.0, maximum=1.0, jitter=0.2)
    delays = [jittery.next_delay() for _ in range(50)]
    assert all(0.8 <= d <= 1.2 for d in delays) and len(set(delays)) > 1


def test_checkpoint_round_trips_through_json() -> None:
    checkpoint = Checkpoint(
        42,
        {"/k/a": KnownKey(40, 3, digest(b"x"), True), "/k/b": KnownKey(41, 41, digest(b""), False)},
        "epoch-1",
    )
    assert Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json()))) == checkpoint


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"keys": {}},
        {"revision": "1", "keys": {}},
        {"revision": 1, "keys": {"/k": [1, 2, "zz", True]}},
        {"revision": 1, "keys": {"/k": [1, 2]}},
        {"revision": 1, "keys": {}, "epoch": 5},
    ],
)
def test_malformed_checkpoints_are_refused(data: object) -> None:
    with pytest.raises(DatastoreError, match="checkpoint"):
        Checkpoint.from_json(data)
