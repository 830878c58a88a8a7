"""The contivpp-events/1 format: round trips, validation messages, recording with rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contivpp.config import AgentConfig, IPAMConfig
from contivpp.errors import EventLogError
from contivpp.events import k8s
from contivpp.events.log import (
    EventRecorder,
    Header,
    LogErrors,
    encode_line,
    read_lines,
    read_log,
)
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    ResyncRequested,
    VPPRestarted,
)

HEADER = json.dumps({"format": "contivpp-events/1", "node": "n1", "config": {}})
TS = "2026-11-29T12:00:00.000000Z"
POD = {"kind": "Pod", "metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": []}}


def events() -> list[Event]:
    return [
        K8sUpserted(k8s.parse_object(POD), raw=POD),
        K8sDeleted(k8s.ObjectRef("Pod", "d", "p")),
        NodeIDAllocated("n1", 4, ("192.168.16.4/24",)),
        CNIAdd("c1", "/var/run/netns/x", "eth0", "d", "p"),
        CNIAdd("c9", "/var/run/netns/y", "eth0", "d", "q", ip="10.1.1.9"),
        CNIDel("c1", "", "eth0", "d", "p"),
        VPPRestarted(),
        ResyncRequested("why"),
    ]


def test_every_event_type_round_trips() -> None:
    lines = [HEADER] + [encode_line(i, TS, e) for i, e in enumerate(events(), start=1)]
    loaded = read_lines(iter(lines))
    assert loaded.header.node == "n1"
    assert [r.event for r in loaded.records] == events()
    assert [r.seq for r in loaded.records] == list(range(1, len(events()) + 1))


def test_header_carries_ipam_overrides() -> None:
    header = json.dumps(
        {
            "format": "contivpp-events/1",
            "node": "n1",
            "config": {"ipam": {"podSubnetCIDR": "10.8.0.0/16", "podSubnetOneNodePrefixLen": 25}},
        }
    )
    loaded = read_lines(iter([header]))
    assert loaded.header.config.ipam.pod_subnet_cidr.exploded == "10.8.0.0/16"
    assert loaded.header.config.ipam.pod_subnet_one_node_prefix_len == 25
    # and the defaults are Contiv's
    assert Header("n", AgentConfig("n")).to_json()["config"] == {
        "ipam": {
            "podSubnetCIDR": "10.1.0.0/16",
            "podSubnetOneNodePrefixLen": 24,
            "vppHostSubnetCIDR": "172.30.0.0/16",
            "vppHostSubnetOneNodePrefixLen": 24,
            "nodeInterconnectCIDR": "192.168.16.0/24",
            "vxlanCIDR": "192.168.30.0/24",
            "serviceCIDR": "10.96.0.0/12",
        },
        "mtu": 1450,
        "mainVRFID": 0,
        "podVRFID": 1,
    }
    assert IPAMConfig() == AgentConfig("n").ipam


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "line 2: invalid JSON"),
        ("[1]", "line 2: expected a JSON object, got list"),
        ('{"ts": "%s", "type": "resync"}' % TS, "line 2: missing field 'seq'"),
        (
            '{"seq": "1", "ts": "%s", "type": "resync"}' % TS,
            "line 2: field 'seq' must be int, got str",
        ),
        (
            '{"seq": 1, "ts": "yesterday", "type": "resync"}',
            "line 2: field 'ts' is not an RFC 3339",
        ),
        ('{"seq": 1, "ts": "2026-11-29T12:00:00+02:00", "type": "resync"}', "must be UTC"),
        ('{"seq": 1, "ts": "%s", "type": "nope"}' % TS, "line 2: unknown event type 'nope'"),
        ('{"seq": 1, "ts": "%s", "type": "node.id", "name": "n"}' % TS, "missing field 'id'"),
        (
            '{"seq": 1, "ts": "%s", "type": "node.id", "name": "n", "id": 0}' % TS,
            "positive integer",
        ),
        (
            '{"seq": 1, "ts": "%s", "type": "cni.add", "container_id": "c", "netns": "", '
            '"ifname": "eth0", "pod_namespace": "d", "pod_name": "p"}' % TS,
            "line 2: field 'netns' is empty",
        ),
        (
            '{"seq": 1, "ts": "%s", "type": "k8s.upsert", "object": {"kind": "Pod", '
            '"metadata": {"name": "p"}}}' % TS,
            "line 2: object Pod p: field 'metadata.namespace': missing",
        ),
        ("", "line 2: empty line"),
    ],
)
def test_malformed_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(EventLogError) as info:
        read_lines(iter([HEADER, line]))
    assert message in str(info.value)


def test_all_bad_lines_are_reported_and_seq_must_grow() -> None:
    good = encode_line(5, TS, VPPRestarted())
    with pytest.raises(LogErrors) as info:
        read_lines(iter([HEADER, good, good, "x", encode_line(6, TS, VPPRestarted())]))
    assert str(info.value).splitlines() == [
        "line 3: seq 5 is not greater than previous seq 5",
        "line 4: invalid JSON: Expecting value at column 1",
    ]


def test_bad_header() -> None:
    with pytest.raises(EventLogError, match="line 1: not a contivpp-events/1 log"):
        read_lines(iter(['{"format": "other"}']))
    with pytest.raises(EventLogError, match=r"line 1: header: config\.ipam\.vxlanCIDR"):
        read_lines(
            iter(
                [
                    '{"format": "contivpp-events/1", "node": "n", '
                    '"config": {"ipam": {"vxlanCIDR": 5}}}'
                ]
            )
        )
    with pytest.raises(EventLogError, match="line 1: empty log"):
        read_lines(iter([]))


def test_recorder_rotates_and_every_file_replays(tmp_path: Path) -> None:
    header = Header("n1", AgentConfig("n1"))
    recorder = EventRecorder(tmp_path, header, max_bytes=600, backups=2, clock=lambda: TS)
    for seq in range(1, 31):
        recorder.record(seq, CNIAdd(f"c{seq}", "/var/run/netns/x", "eth0", "d", f"p{seq}"))
    recorder.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    seqs: list[int] = []
    for name in ("events.jsonl.2", "events.jsonl.1", "events.jsonl"):
        path = tmp_path / name
        assert path.stat().st_size <= 600
        seqs += [r.seq for r in read_log(path).records]
    assert seqs == sorted(seqs) and seqs[-1] == 30  # oldest files dropped, order kept


def test_recorder_skips_objects_without_api_form(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, Header("n1", AgentConfig("n1")), max_bytes=10_000, backups=1)
    recorder.record(1, K8sUpserted(k8s.Namespace("x")))
    recorder.record(2, VPPRestarted())
    recorder.close()
    assert [r.seq for r in read_log(tmp_path / "events.jsonl").records] == [2]
