"""Fuzzing the node's front doors that take data (issue 14): every input ends in a clear error
of ours naming the place, or in a correct result, never in another exception, and an error
leaves no trace.

- the event-log reader (``contivpp replay`` and the recorder's readers),
- the Kubernetes model parser (``events.k8s.parse_object`` / ``parse_ref``),
- the agent's decoding of etcd values (``datastore`` translators, node-ID records),
- the agent's config loader.

Inputs are valid values with a few parts replaced by arbitrary JSON (so the fuzzer reaches
deep fields, not only the first check) plus arbitrary text and bytes.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contivpp.agent.nodes import AgentTranslator
from contivpp.agent.podstore import load_pods, load_position
from contivpp.agent.settings import AgentSettings, load_settings, settings_from_mapping
from contivpp.config import is_ipv4
from contivpp.datastore import keys
from contivpp.datastore.values import decode_value
from contivpp.datastore.watcher import Checkpoint
from contivpp.errors import (
    ConfigError,
    DatastoreError,
    EventLogError,
    InputError,
    K8sObjectError,
)
from contivpp.events import k8s
from contivpp.events.log import LoadedLog, LogErrors, encode_line, read_lines, read_log
from contivpp.events.types import (
    AllocatorPositionRestored,
    CNIAdd,
    CNIDel,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
    ResyncRequested,
    VPPRestarted,
)

# make test runs a modest number; CONTIVPP_FUZZ_EXAMPLES=5000 digs deeper when hunting.
FUZZ = settings(
    max_examples=int(os.environ.get("CONTIVPP_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mutate_once(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        if draw(st.integers(0, 3)) == 0:
            del node[key]
        else:
            node[key] = _mutate_once(draw, node[key])
        return node
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(0, len(node) - 1))
        node[index] = _mutate_once(draw, node[index])
        return node
    return draw(json_values)


@st.composite
def mutated(draw: st.DrawFn, templates: list[Any]) -> Any:
    """A template with 0-3 of its parts (at any depth) replaced by arbitrary JSON or removed."""
    value = copy.deepcopy(draw(st.sampled_from(templates)))
    for _ in range(draw(st.integers(0, 3))):
        value = _mutate_once(draw, value)
    return value


def unchanged(before: str, after: object) -> bool:
    # repr, not ==: NaN is not equal to itself.
    return before == repr(after)


# ---------------------------------------------------------------------------------------------
# Kubernetes objects

OBJECTS: list[dict[str, Any]] = [
    {"kind": "Namespace", "metadata": {"name": "prod", "labels": {"team": "a"}}},
    {
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "prod", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "hostNetwork": False,
            "containers": [
                {
                    "name": "main",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                }
            ],
        },
        "status": {"podIP": "10.1.1.2", "hostIP": "192.168.16.1"},
    },
    {
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.10",
            "externalIPs": ["1.2.3.4"],
            "selector": {"app": "web"},
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
            "externalTrafficPolicy": "Local",
            "ports": [
                {
                    "name": "http",
                    "protocol": "TCP",
                    "port": 80,
                    "targetPort": "http",
                    "nodePort": 30080,
                }
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}},
    },
    {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-x1",
            "namespace": "prod",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": ["10.1.1.2"],
                "conditions": {"ready": True},
                "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "namespace": "prod", "name": "web-0"},
            }
        ],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    },
    {
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow", "namespace": "prod"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": {}},
                        {
                            "namespaceSelector": {
                                "matchExpressions": [
                                    {"key": "team", "operator": "In", "values": ["a"]}
                                ]
                            }
                        },
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                    ],
                    "ports": [{"port": 80}, {"protocol": "UDP", "port": "dns"}],
                }
            ],
            "egress": [{"to": [], "ports": [{"port": 1000, "endPort": 2000}]}],
        },
    },
    {
        "kind": "Node",
        "metadata": {"name": "node-1"},
        "spec": {"podCIDR": "10.1.1.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.16.1"}]},
    },
]


def _expect_named_error(exc: K8sObjectError, raw: object) -> None:
    assert exc.obj_ref == k8s.describe(raw)
    assert str(exc).startswith(f"{exc.obj_ref}: field {exc.field!r}: ")


@FUZZ
@given(mutated(OBJECTS) | json_values)
def test_k8s_parser(raw: Any) -> None:
    before = repr(raw)
    try:
        obj = k8s.parse_object(raw)
    except K8sObjectError as exc:
        _expect_named_error(exc, raw)
    else:
        assert k8s.ref_of(obj).name == raw["metadata"]["name"]
    try:
        ref = k8s.parse_ref(raw)
    except K8sObjectError as exc:
        _expect_named_error(exc, raw)
    else:
        assert ref.kind == raw["kind"]
    assert unchanged(before, raw)


# ---------------------------------------------------------------------------------------------
# etcd values, as the agent decodes them

object_keys = st.sampled_from(
    [
        "/vnf-agent/contiv-ksr/k8s/namespace/prod",
        "/vnf-agent/contiv-ksr/k8s/pod/web-0/namespace/prod",
        "/vnf-agent/contiv-ksr/k8s/service/web/namespace/prod",
        "/vnf-agent/contiv-ksr/k8s/endpointslice/web-x1/namespace/prod",
        "/vnf-agent/contiv-ksr/k8s/policy/allow/namespace/prod",
        "/vnf-agent/contiv-ksr/k8s/node/node-1",
    ]
) | st.text(max_size=40).map(lambda tail: keys.K8S_PREFIX + tail)
node_records = st.fixed_dictionaries(
    {"id": st.just(7) | json_values, "name": st.just("node-7") | json_values},
    optional={"ip_addresses": st.just(["192.168.16.7/24"]) | json_values},
)
id_keys = st.sampled_from([keys.allocated_id_key(7), keys.ALLOCATED_IDS_PREFIX + "x"]) | st.text(
    max_size=8
).map(lambda tail: keys.ALLOCATED_IDS_PREFIX + tail)


NODE_3 = b'{"id": 3, "name": "node-3", "ip_addresses": ["192.168.16.3/24"]}'


def _as_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


values = (
    mutated(OBJECTS).map(_as_bytes)
    | node_records.map(_as_bytes)
    | json_values.map(_as_bytes)
    | st.binary(max_size=40)
)


@FUZZ
@given(object_keys | id_keys, values, st.booleans())
def test_agent_decodes_etcd_values(key: str, value: bytes, delete: bool) -> None:
    translator = AgentTranslator("node-1")
    translator.upsert(keys.allocated_id_key(3), NODE_3)
    known = repr(translator.nodes)
    try:
        events = translator.delete(key) if delete else translator.upsert(key, value)
    except InputError as exc:
        assert key in str(exc) or k8s.describe(_json_or_none(value)) in str(exc)
        assert repr(translator.nodes) == known  # an error leaves no trace
        return
    for event in events:
        assert isinstance(event, K8sUpserted | K8sDeleted | NodeIDAllocated | NodeIDReleased)
        if isinstance(event, NodeIDAllocated):
            assert isinstance(event.id, int) and not isinstance(event.id, bool)
            assert isinstance(event.name, str) and event.name
            assert all(isinstance(ip, str) for ip in event.ip_addresses)


def _json_or_none(value: bytes) -> object:
    try:
        return json.loads(value)
    except ValueError:
        return None


@FUZZ
@given(object_keys, values)
def test_decode_value(key: str, value: bytes) -> None:
    try:
        decoded = decode_value(key, value)
    except K8sObjectError:
        return
    assert keys.parse_object_key(key) == k8s.ref_of(decoded.obj)


checkpoints = st.fixed_dictionaries(
    {
        "revision": st.just(12) | json_values,
        "keys": st.dictionaries(
            st.text(max_size=8),
            st.just([5, 4, "00ff", True]) | st.lists(json_values, min_size=4, max_size=4),
            max_size=2,
        )
        | json_values,
    },
    optional={"epoch": st.just("e1") | json_values},
)


@FUZZ
@given(checkpoints | json_values)
def test_watcher_checkpoint(data: Any) -> None:
    """The agent's own checkpoint file is read back into the watcher after a restart."""
    try:
        checkpoint = Checkpoint.from_json(data)
    except DatastoreError as exc:
        assert str(exc).startswith("datastore checkpoint: ")
        return
    assert isinstance(checkpoint.revision, int)


# ---------------------------------------------------------------------------------------------
# Event logs

TS = "2026-11-29T12:00:00.000000Z"
HEADER = {"format": "contivpp-events/1", "node": "n1", "config": {"mtu": 1450}}
EVENTS: list[Event] = [
    K8sUpserted(k8s.parse_object(OBJECTS[1]), raw=OBJECTS[1]),
    K8sDeleted(k8s.ObjectRef("Pod", "prod", "web-0")),
    NodeIDAllocated("n1", 4, ("192.168.16.4/24",)),
    NodeIDReleased("n2", 5),
    CNIAdd("c1", "/var/run/netns/x", "eth0", "d", "p", ip="10.1.1.9"),
    CNIDel("c1", "", "eth0", "d", "p"),
    AllocatorPositionRestored("10.1.1.9"),
    VPPRestarted(),
    ResyncRequested("why"),
]
EVENT_LINES = [json.loads(encode_line(seq, TS, e)) for seq, e in enumerate(EVENTS, start=1)]
EVENT_LINES.append({"seq": 20, "ts": TS, "type": "config", "config": {"mtu": 1500}})
log_lines = (
    st.just(HEADER).map(json.dumps)
    | mutated([HEADER]).map(json.dumps)
    | mutated(EVENT_LINES).map(json.dumps)
    | st.text(max_size=30)
)


def _check_log_result(read: Callable[[], LoadedLog], count: int) -> None:
    try:
        loaded = read()
    except LogErrors as exc:
        for problem in exc.problems:
            assert 1 <= problem.line <= max(count, 1)
            assert "\n" not in problem.reason
        return
    except EventLogError as exc:
        assert 1 <= exc.line <= max(count, 1)
        return
    seqs = [r.seq for r in loaded.records]
    assert seqs == sorted(set(seqs))
    assert loaded.header.node


@FUZZ
@given(st.lists(log_lines, max_size=6))
def test_event_log_reader(lines: list[str]) -> None:
    _check_log_result(lambda: read_lines(iter(lines)), len(lines))


@FUZZ
@given(st.lists(log_lines, max_size=4), st.binary(max_size=20), st.booleans())
def test_event_log_file_reader(lines: list[str], tail: bytes, newline: bool) -> None:
    data = "\n".join(lines).encode() + tail + (b"\n" if newline else b"")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.jsonl"
        path.write_bytes(data)
        count = data.count(b"\n") + 1
        _check_log_result(lambda: read_log(path), count)


# ---------------------------------------------------------------------------------------------
# The agent's config file

SETTINGS = {
    "nodeName": "n1",
    "etcdEndpoints": ["127.0.0.1:2379"],
    "vppSocket": "/run/vpp/api.sock",
    "cniSocket": "/var/run/contivpp/cni.sock",
    "cniGrpcSocket": "/var/run/contivpp/cni-grpc.sock",
    "cniTimeoutSeconds": 60,
    "vppConnectTimeoutSeconds": 30,
    "httpAddress": "127.0.0.1:9999",
    "stateDir": "/var/lib/contivpp",
    "eventLog": {"directory": "/var/lib/contivpp/events", "maxBytes": "64Mi", "backups": 4},
    "ipam": {"podSubnetCIDR": "10.1.0.0/16", "podSubnetOneNodePrefixLen": 24},
    "mtu": 1450,
    "mainVRFID": 0,
    "podVRFID": 1,
    "vxlanVNI": 10,
    "natExternalTraffic": True,
}


def _check_settings(result: AgentSettings) -> None:
    assert result.agent.node_name
    assert result.cni_timeout > 0 and result.vpp_connect_timeout > 0
    assert 0 <= result.http_port <= 65535
    assert result.agent.event_log.max_bytes >= 1 and result.agent.event_log.backups >= 0


@FUZZ
@given(mutated([SETTINGS]))
def test_config_loader(data: Any) -> None:
    before = repr(data)
    try:
        result = settings_from_mapping(data)
    except ConfigError as exc:
        assert str(exc).startswith("config: ") and "\n" not in str(exc)
    else:
        _check_settings(result)
    assert unchanged(before, data)


@FUZZ
@given(st.text(max_size=80) | mutated([SETTINGS]).map(lambda d: json.dumps(d, allow_nan=True)))
def test_config_file(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "agent.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        # Binding the HTTP port is checked by the settings tests, not thousands of times here.
        with mock.patch("contivpp.agent.settings.check_can_serve"):
            try:
                result = load_settings(path)
            except ConfigError as exc:
                assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
            else:
                _check_settings(result)


# ---------------------------------------------------------------------------------------------
# The agent's own pods.json (read at every start; a bad file must not keep the node down)

POD_RECORD = {
    "namespace": "default",
    "name": "web-0",
    "container_id": "c1",
    "netns": "/var/run/netns/web-0",
    "ifname": "eth0",
    "ip": "10.1.1.2",
}
POD_STORE = {"pods": [POD_RECORD, {**POD_RECORD, "name": "web-1", "ip": "10.1.1.3"}]}
POD_STORE["last_allocated"] = "10.1.1.3"


@FUZZ
@given(mutated([POD_STORE]).map(lambda d: json.dumps(d, allow_nan=True)) | st.text(max_size=30))
def test_pod_store(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pods.json"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        restored = load_pods(path)
        position = load_position(path)
    for event in restored:
        for value in (event.container_id, event.netns, event.ifname, event.pod_name):
            assert isinstance(value, str) and value
        assert isinstance(event.pod_namespace, str) and event.pod_namespace
        assert event.ip == "" or is_ipv4(event.ip)
    assert position is None or is_ipv4(position.ip)
