"""Pod addresses across agent restarts (issue 14, defect 11; Contiv #573 / #641).

A new pod must not get an address released moments before: the allocator's round-robin
position is persisted with the pods in ``pods.json`` and restored through an event, so it is
where it was before the restart whatever order the pods are restored in, also after the
allocation wrapped around the range.
"""

from __future__ import annotations

import json
import os
import stat
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from contivpp import ipam
from contivpp.agent.podstore import load_pods, load_position, save_pods
from contivpp.config import AgentConfig, IPAMConfig
from contivpp.errors import IPAMError
from contivpp.events.log import encode_line, read_lines
from contivpp.events.state import ClusterState, fold, initial_state
from contivpp.events.types import AllocatorPositionRestored, CNIAdd, CNIDel, Event, NodeIDAllocated

# A /29 per node: hosts .2 .. .5 for pods (.1 gateway, .6 NAT loopback), so wrapping is quick.
SMALL = AgentConfig("node-1", ipam=IPAMConfig(pod_subnet_one_node_prefix_len=29))
NODE = NodeIDAllocated("node-1", 1)  # pod subnet 10.1.0.8/29 with the small plan


GOOD = {
    "namespace": "default",
    "name": "a",
    "container_id": "c",
    "netns": "/var/run/netns/a",
    "ifname": "eth0",
    "ip": "10.1.1.7",
}


def add(name: str) -> CNIAdd:
    return CNIAdd(f"cid-{name}", f"/var/run/netns/{name}", "eth0", "default", name)


def delete(name: str) -> CNIDel:
    return CNIDel(f"cid-{name}", f"/var/run/netns/{name}", "eth0", "default", name)


def run(state: ClusterState, *events: Event) -> ClusterState:
    for event in events:
        state = fold(state, event)
    return state


def ip_of(state: ClusterState, name: str) -> str:
    return state.local_pods[("default", name)].ip


def restart(before: ClusterState, tmp_path: Path, config: AgentConfig) -> ClusterState:
    """What a restarted agent does: save, load, then the ID, the pods, the position."""
    path = tmp_path / "pods.json"
    save_pods(path, before.local_pods, before.allocator)
    position = load_position(path)
    assert position is not None
    return run(initial_state(config), NODE, *load_pods(path), position)


def test_claims_move_the_position_to_the_highest_index_not_the_last_claimed() -> None:
    alloc = ipam.PodAllocator(IPv4Network("10.1.1.0/24"))
    alloc = alloc.claim(("ns", "a"), IPv4Address("10.1.1.5"))
    alloc = alloc.claim(("ns", "b"), IPv4Address("10.1.1.3"))
    _, ip = alloc.allocate(("ns", "c"))
    assert str(ip) == "10.1.1.6"


def test_an_address_released_before_a_restart_is_not_handed_out_after_it(tmp_path: Path) -> None:
    config = AgentConfig("node-1")
    before = run(initial_state(config), NODE, add("a"), add("b"), add("c"), delete("c"))
    after = restart(before, tmp_path, config)
    after = fold(after, add("d"))
    # c had 10.1.1.4 moments before the restart; d gets the next one.
    assert ip_of(after, "d") == "10.1.1.5"


def test_the_position_survives_a_wrap_around(tmp_path: Path) -> None:
    before = run(
        initial_state(SMALL),
        NODE,
        add("a"),  # .10
        add("b"),  # .11
        add("c"),  # .12
        add("d"),  # .13, the end of the range
        delete("a"),
        delete("b"),
        add("e"),  # wraps around: .10
        delete("e"),  # .10 released just before the restart
    )
    after = fold(restart(before, tmp_path, SMALL), add("f"))
    # Claims alone would put the position at .13 (d, the highest) and hand out .10 again.
    assert ip_of(after, "f") == "10.1.0.11"


def test_restore_order_does_not_matter(tmp_path: Path) -> None:
    before = run(initial_state(SMALL), NODE, add("z"), add("a"), delete("a"))
    path = tmp_path / "pods.json"
    save_pods(path, before.local_pods, before.allocator)
    position = load_position(path)
    assert position == AllocatorPositionRestored("10.1.0.11")
    after = run(initial_state(SMALL), NODE, *reversed(load_pods(path)), position)
    assert ip_of(fold(after, add("n")), "n") == "10.1.0.12"


def test_pods_json_records_the_position(tmp_path: Path) -> None:
    before = run(initial_state(AgentConfig("node-1")), NODE, add("a"), add("b"), delete("b"))
    save_pods(tmp_path / "pods.json", before.local_pods, before.allocator)
    data = json.loads((tmp_path / "pods.json").read_text(encoding="utf-8"))
    assert data["last_allocated"] == "10.1.1.3"
    assert [p["ip"] for p in data["pods"]] == ["10.1.1.2"]


def test_a_pods_json_without_a_position_still_restores_pods(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"pods": [GOOD]}), encoding="utf-8")
    assert load_position(path) is None
    assert [e.ip for e in load_pods(path)] == ["10.1.1.7"]
    assert load_position(tmp_path / "missing.json") is None


@pytest.mark.parametrize("value", [5, "", "10.1.1", None])
def test_a_bad_position_is_ignored_not_fatal(tmp_path: Path, value: object) -> None:
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"pods": [], "last_allocated": value}), encoding="utf-8")
    assert load_position(path) is None


def test_a_position_outside_the_subnet_is_rejected_and_state_kept() -> None:
    state = run(initial_state(AgentConfig("node-1")), NODE, add("a"))
    with pytest.raises(IPAMError, match=r"10\.1\.9\.9 is outside 10\.1\.1\.0/24"):
        fold(state, AllocatorPositionRestored("10.1.9.9"))
    with pytest.raises(IPAMError, match=r"no node ID yet"):
        fold(initial_state(AgentConfig("node-1")), AllocatorPositionRestored("10.1.1.9"))
    assert fold(state, add("b")).local_pods[("default", "b")].ip == "10.1.1.3"


def test_the_position_event_is_recorded_and_replayed() -> None:
    header = '{"format": "contivpp-events/1", "node": "node-1"}'
    line = encode_line(3, "2026-11-29T12:00:00Z", AllocatorPositionRestored("10.1.1.9"))
    assert json.loads(line) == {
        "seq": 3,
        "ts": "2026-11-29T12:00:00Z",
        "type": "ipam.position",
        "ip": "10.1.1.9",
    }
    loaded = read_lines(iter([header, line]))
    assert [r.event for r in loaded.records] == [AllocatorPositionRestored("10.1.1.9")]


def test_pods_json_is_private_whatever_the_umask(tmp_path: Path) -> None:
    state = run(initial_state(AgentConfig("node-1")), NODE, add("a"))
    old = os.umask(0)
    try:
        save_pods(tmp_path / "pods.json", state.local_pods, state.allocator)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "pods.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["null", "[]", '{"pods": {}}', '{"pods": 5}', "{", "\udcff"])
def test_an_unreadable_pod_store_restores_nothing_and_does_not_crash(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "pods.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    assert load_pods(path) == [] and load_position(path) is None


def test_bad_records_are_skipped_and_the_others_restored(tmp_path: Path) -> None:
    # Found by the fuzzer: "ip": "x" reached the fold as a ValueError (not an error of ours),
    # "name": 5 became the pod "5", and a record that was not an object stopped the restore.
    records = [
        {**GOOD, "name": "bad-ip", "ip": "x"},
        {**GOOD, "name": 5},
        {**GOOD, "name": "no-netns", "netns": ""},
        "not a record",
        GOOD,
    ]
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"pods": records}), encoding="utf-8")
    assert [(e.pod_name, e.ip) for e in load_pods(path)] == [("a", "10.1.1.7")]
