"""``contivpp replay`` end to end: determinism, the golden output, --until, malformed input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "three-pods.jsonl"
GOLDEN = ROOT / "tests" / "golden" / "three-pods.json"


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contivpp.cli", "replay", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_output_is_byte_identical_across_runs_and_matches_golden() -> None:
    first = replay(str(EXAMPLE), "--json")
    second = replay(str(EXAMPLE), "--json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout == GOLDEN.read_text(encoding="utf-8"), (
        "replay output changed; if intended, regenerate tests/golden/three-pods.json"
    )


def test_pods_and_ips_follow_the_ipam_defaults() -> None:
    out = json.loads(replay(str(EXAMPLE), "--json").stdout)
    assert out["node"] == "node-1" and out["node_id"] == 1 and out["events"] == 21
    pods = {p["name"]: p["ip"] for p in out["pods"]}
    # web-1 was re-created: its old address is not reused straight away.
    assert pods == {"web-0": "10.1.1.2", "db-0": "10.1.1.4", "web-1": "10.1.1.5"}
    assert out["desired"]["vpp/interface/podGwLoop"]["ip_addresses"] == ["10.1.1.1/24"]


def test_until_stops_at_a_seq() -> None:
    out = json.loads(replay(str(EXAMPLE), "--json", "--until", "8").stdout)
    assert out["events"] == 8
    assert [p["name"] for p in out["pods"]] == ["web-0"]


def test_text_output_lists_pods() -> None:
    text = replay(str(EXAMPLE), "--dry-run").stdout
    assert "default/web-0" in text and "10.1.1.2" in text and "desired configuration" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"format":"contivpp-events/1","node":"n"}\n{"seq":1}\n', "line 2: missing field 'ts'"),
        (b"garbage\n", "line 1: invalid JSON"),
        (b'{"format":"contivpp-events/1","node":"n"}\n\xff\n', "line 2: not valid UTF-8"),
    ],
)
def test_malformed_log_exits_non_zero_naming_the_line(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    result = replay(str(path), "--json")
    assert result.returncode != 0
    assert expected in result.stderr
    assert result.stdout == ""


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = replay(str(tmp_path / "nope.jsonl"))
    assert result.returncode == 1
    assert "cannot read event log" in result.stderr and "Traceback" not in result.stderr


def test_an_out_of_range_node_id_is_listed_under_rejected(tmp_path: Path) -> None:
    """Issue 14 defect 1: replay used to abort in render(); the event is now rejected."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    evil = (
        '{"id":300,"ip_addresses":["192.168.16.44/24"],"name":"node-evil","seq":5,'
        '"ts":"2026-11-29T12:00:04.500000Z","type":"node.id"}'
    )
    # after this node's own ID (seq 4); later seqs move up by one
    shifted = []
    for line in lines[5:]:
        record = json.loads(line)
        record["seq"] += 1
        shifted.append(json.dumps(record))
    path = tmp_path / "evil.jsonl"
    path.write_text("\n".join([*lines[:5], evil, *shifted]) + "\n", encoding="utf-8")
    result = replay(str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["rejected"] == [
        {
            "seq": 5,
            "event": "NodeIDAllocated",
            "error": "node node-evil: node ID 300 does not fit podSubnetCIDR 10.1.0.0/16 "
            "split into /24",
        }
    ]
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert out["desired"] == golden["desired"] and out["pods"] == golden["pods"]
