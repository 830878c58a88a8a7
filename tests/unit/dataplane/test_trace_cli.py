"""``contivpp trace`` argument handling and output: bad input is named, JSON is stable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dataplane_nodes import node

from contivpp.dataplane import trace
from contivpp.dataplane.trace import Pod
from contivpp.errors import InputError

DELIVERED = "delivered to tap-b (netns /var/run/netns/pod-b): 10.1.1.3 is at 02:fe:00:00:01:a5"
PODS = [
    Pod("default", "a", "10.1.1.2", "tap-a"),
    Pod("default", "b", "10.1.1.3", "tap-b"),
    Pod("default", "pending", "", "tap-x"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1.1.3", ("10.1.1.3", 0, 1)),
        ("10.1.1.3:80", ("10.1.1.3", 80, 6)),
        ("10.1.1.3:53/udp", ("10.1.1.3", 53, 17)),
        ("default/b:5000/SCTP", ("default/b", 5000, 132)),
    ],
)
def test_destination_forms(text: str, expected: tuple[str, int, int]) -> None:
    assert trace.parse_destination(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.1.1.3:http", "destination '10.1.1.3:http': port 'http' is not a number"),
        ("10.1.1.3:70000", "destination '10.1.1.3:70000': port 70000 is not in 0..65535"),
        (
            "10.1.1.3:80/gre",
            "destination '10.1.1.3:80/gre': protocol 'gre' is not one of "
            "['icmp', 'sctp', 'tcp', 'udp']",
        ),
    ],
)
def test_bad_destinations_are_named(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        trace.parse_destination(text)
    assert str(err.value) == message


def test_endpoint_resolution() -> None:
    assert trace.resolve("default/b", PODS, "destination") == trace.Target("10.1.1.3", "default/b")
    with pytest.raises(InputError, match=r"^source 'web': neither an IPv4 address nor"):
        trace.resolve("web", PODS, "source")
    with pytest.raises(InputError, match=r"^source 'default/b': no such pod on this node \(give"):
        trace.resolve("default/b", [], "source")
    with pytest.raises(InputError, match=r"^source 'default/pending': the pod has no address yet"):
        trace.resolve("default/pending", PODS, "source")
    with pytest.raises(InputError, match=r"^--peer 'node2': expected NODE=SOCKET"):
        trace.parse_peer("node2")


def test_pods_json_is_read_and_bad_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "pods.json").write_text(
        json.dumps(
            {
                "pods": [
                    {
                        "namespace": "default",
                        "name": "a",
                        "container_id": "abc",
                        "netns": "/x",
                        "ifname": "eth0",
                        "ip": "10.1.1.2",
                    }
                ]
            }
        )
    )
    assert trace.load_pods(tmp_path) == [Pod("default", "a", "10.1.1.2", "tap-abc")]
    (tmp_path / "pods.json").write_text("{}")
    with pytest.raises(InputError, match=r"pods\.json: not a pods\.json of the agent"):
        trace.load_pods(tmp_path)
    with pytest.raises(InputError, match=r"nowhere/pods\.json: cannot read it"):
        trace.load_pods(tmp_path / "nowhere")


def test_json_output_is_stable_and_complete() -> None:
    request = trace.build_request("default/a", "default/b:80", pods=PODS, node="node1")
    outcomes = trace.run(request, [node(1)], PODS)
    data = trace.to_json(request, outcomes)
    assert data == {
        "format": "contivpp-trace/1",
        "from": {"ip": "10.1.1.2", "pod": "default/a"},
        "to": {"ip": "10.1.1.3", "pod": "default/b"},
        "packet": {
            "src": "10.1.1.2",
            "dst": "10.1.1.3",
            "proto": "tcp",
            "sport": 40000,
            "dport": 80,
        },
        "outcome": {
            "result": "delivered",
            "node": "node1",
            "interface": "tap-b",
            "pod": "default/b",
            "stage": "deliver",
            "reason": DELIVERED,
            "packet": {
                "src": "10.1.1.2",
                "dst": "10.1.1.3",
                "proto": "tcp",
                "sport": 40000,
                "dport": 80,
            },
            "hops": [
                {
                    "node": "node1",
                    "stage": "ingress",
                    "verdict": "pass",
                    "interface": "tap-a",
                    "reason": "tcp 10.1.1.2:40000 -> 10.1.1.3:80 received on tap-a (VRF 1)",
                },
                {
                    "node": "node1",
                    "stage": "fib",
                    "verdict": "pass",
                    "interface": "tap-b",
                    "reason": "VRF 1 10.1.1.3/32 (api): via 10.1.1.3 out tap-b",
                },
                {
                    "node": "node1",
                    "stage": "deliver",
                    "verdict": "deliver",
                    "interface": "tap-b",
                    "reason": DELIVERED,
                },
            ],
        },
        "reply": None,
    }
    assert trace.dumps(data) == trace.dumps(
        trace.to_json(request, trace.run(request, [node(1)], PODS))
    )
    assert trace.exit_code(outcomes) == 0


def test_text_output_ends_with_the_verdict() -> None:
    request = trace.build_request("10.1.1.2", "10.1.7.9:80", node="node1", reply=True)
    outcomes = trace.run(request, [node(1)])
    text = trace.render_text(request, outcomes)
    assert text.splitlines() == [
        "packet:",
        "   1. ingress      pass      node1/tap-a: tcp 10.1.1.2:40000 -> 10.1.7.9:80 received on "
        "tap-a (VRF 1)",
        "   2. fib          drop      node1: VRF 1 10.1.0.0/16 (api): drop route",
        "  => DROPPED at fib on node1: VRF 1 10.1.0.0/16 (api): drop route",
    ]
    assert trace.exit_code(outcomes) == 3
