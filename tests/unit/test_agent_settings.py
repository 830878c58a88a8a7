"""The agent's config file: every mistake is one line naming the setting (issue 14, defect 9).

Expected messages are written out here in full: the setting's name as the operator typed it,
what is wrong, and the value that was given, on one line, as ``ConfigError`` (which ``contivpp
agent`` prints as ``contivpp agent: <message>`` with status 1).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contivpp.agent.settings import check_can_serve, load_settings, settings_from_mapping
from contivpp.errors import ConfigError

UNITS = "(bytes, as an integer or with a unit: k, M, G, Ki, Mi, Gi)"


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "eventLog: {maxBytes: 64 potatoes}",
            "eventLog.maxBytes: '64 potatoes' is not a size " + UNITS,
        ),
        ("eventLog: {maxBytes: 0}", "eventLog.maxBytes: must be at least 1, got 0"),
        ("eventLog: {maxBytes: -1Mi}", "eventLog.maxBytes: '-1Mi' is not a size " + UNITS),
        ("eventLog: {maxBytes: 1.5}", "eventLog.maxBytes: 1.5 is not a size " + UNITS),
        ("eventLog: {backups: -1}", "eventLog.backups: must be at least 0, got -1"),
        ("eventLog: {backups: '2'}", "eventLog.backups: must be an integer, got str '2'"),
        (
            "eventLog: {directory: 5}",
            "eventLog.directory: must be a path (string) or null, got int 5",
        ),
        (
            "eventLog: {dir: /x}",
            "eventLog.dir: unknown setting (known: directory, maxBytes, backups)",
        ),
        ("eventLog: [1]", "eventLog: must be a mapping, got list"),
        ("cniGrpcSocket: 5", "cniGrpcSocket: must be a path (string) or null, got int 5"),
        ("cniSocket: 5", "cniSocket: must be a path (string), got int 5"),
        ("cniSocket: ''", "cniSocket: must not be empty"),
        (
            "vppSocket: /" + "v" * 120,
            "vppSocket: 121 bytes, longer than the 107 a unix socket path can have",
        ),
        ("stateDir: [a]", "stateDir: must be a path (string), got list ['a']"),
        ("httpAddress: 127.0.0.1:99999", "httpAddress: port 99999 is out of range (0-65535)"),
        ("httpAddress: localhost", "httpAddress: must be HOST:PORT, got 'localhost'"),
        ("httpAddress: ':80'", "httpAddress: must be HOST:PORT, got ':80'"),
        ("httpAddress: 8080", "httpAddress: must be HOST:PORT (string), got int 8080"),
        (
            "serviceHealthCheckAddress: 10.0.0.300",
            "serviceHealthCheckAddress: '10.0.0.300' is not an IP address",
        ),
        (
            "serviceHealthCheckAddress: [0.0.0.0]",
            "serviceHealthCheckAddress: must be an IP address (string) or null,"
            " got list ['0.0.0.0']",
        ),
        (
            "cniTimeoutSeconds: -5",
            "cniTimeoutSeconds: must be a positive number of seconds, got -5",
        ),
        ("cniTimeoutSeconds: 0", "cniTimeoutSeconds: must be a positive number of seconds, got 0"),
        (
            "cniTimeoutSeconds: .nan",
            "cniTimeoutSeconds: must be a positive number of seconds, got nan",
        ),
        (
            "cniTimeoutSeconds: .inf",
            "cniTimeoutSeconds: must be a positive number of seconds, got inf",
        ),
        ("cniTimeoutSeconds: '5'", "cniTimeoutSeconds: must be a number of seconds, got str '5'"),
        (
            "vppConnectTimeoutSeconds: false",
            "vppConnectTimeoutSeconds: must be a number of seconds, got bool False",
        ),
        ("etcdEndpoints: []", "etcdEndpoints: must list at least one HOST:PORT"),
        ("etcdEndpoints: [etcd]", "etcdEndpoints: 'etcd' is not HOST:PORT"),
        ("etcdEndpoints: ['h:70000']", "etcdEndpoints: 'h:70000' is not HOST:PORT"),
        ("etcdEndpoints: 5", "etcdEndpoints: must be a list of HOST:PORT strings, got int 5"),
        ("nodeName: 5", "nodeName: must be a non-empty string, got int 5"),
        ("nodeName: ''", "nodeName: must be a non-empty string, got str ''"),
        ("mtu: 10", "mtu: must be between 576 and 9216, got 10"),
        ("mtu: '1500'", "mtu: must be an integer, got str '1500'"),
        ("mainVRFID: -1", "mainVRFID: must be between 0 and 4294967295, got -1"),
        ("vxlanVNI: 16777216", "vxlanVNI: must be between 1 and 16777215, got 16777216"),
        ("podVRFID: 0", "mainVRFID and podVRFID must differ (both 0)"),
        ("natExternalTraffic: 1", "natExternalTraffic: expected a boolean, got int 1"),
        ("ipam: {vxlanCIDR: 5}", "ipam.vxlanCIDR: expected a CIDR string"),
        ("ipam: {podSubnetCIDR: 10.1.0.1/16}", "ipam.podSubnetCIDR: 10.1.0.1/16 has host bits set"),
        ("ipam: 3", "ipam: expected an object, got int"),
        ("cniTimeout: 5", "cniTimeout: unknown setting"),
        ('"\\n": 1', "'\\n': unknown setting"),  # found by the fuzzer: one line, quoted
        ('eventLog: {"": 1}', "eventLog.'': unknown setting (known: directory, maxBytes, backups)"),
        ('cniSocket: "\\ud800"', "cniSocket: not a valid path (lone surrogates): '\\ud800'"),
        ('stateDir: "a\\0b"', "stateDir: not a valid path (NUL character): 'a\\x00b'"),
        ("- a", "expected a mapping at the top level, got list"),
    ],
)
def test_each_mistake_is_one_line_naming_the_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert str(info.value) == f"{tmp_path / 'agent.yaml'}: {message}"
    assert "\n" not in str(info.value)


def test_bool_is_not_a_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"eventLog\.maxBytes: True is not a size"):
        load(tmp_path, "eventLog: {maxBytes: true}")


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("65536", 65536),
        ("'65536'", 65536),
        ("64k", 64_000),
        ("64K", 64_000),
        ("64M", 64_000_000),
        ("2G", 2_000_000_000),
        ("64Ki", 65_536),
        ("64Mi", 67_108_864),
        ("1Gi", 1_073_741_824),
    ],
)
def test_event_log_size_takes_kubernetes_units(tmp_path: Path, given: str, size: int) -> None:
    settings = load(tmp_path, f"eventLog: {{maxBytes: {given}, backups: 0}}")
    assert settings.agent.event_log.max_bytes == size  # type: ignore[attr-defined]
    assert settings.agent.event_log.backups == 0  # type: ignore[attr-defined]


def test_good_values_are_taken(tmp_path: Path) -> None:
    settings = settings_from_mapping(
        yaml.safe_load(
            "nodeName: n1\n"
            "etcdEndpoints: '10.0.0.1:2379,http://10.0.0.2:2379'\n"
            "httpAddress: '[::1]:9998'\n"
            "cniGrpcSocket: null\n"
            "cniTimeoutSeconds: 2.5\n"
            "mtu: 9000\n"
            "natExternalTraffic: false\n"
            "serviceHealthCheckAddress: 0.0.0.0\n"
            "routeServiceCIDRToVPP: true\n"
        )
    )
    assert settings.service_health_check_host == "0.0.0.0"
    assert settings.etcd_endpoints == ("10.0.0.1:2379", "http://10.0.0.2:2379")
    assert (settings.http_host, settings.http_port) == ("::1", 9998)
    assert settings.cni_grpc_socket is None and settings.cni_timeout == 2.5
    assert settings.agent.mtu == 9000 and settings.agent.nat_external_traffic is False
    assert settings.agent.route_service_cidr_to_vpp is True


def test_invalid_yaml_is_one_line_with_its_position(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "nodeName: n1\nmtu: [1\n")
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'agent.yaml'}: invalid YAML at line 3, column 1: ")
    assert "\n" not in text


def test_a_port_in_use_is_named_before_anything_else(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_from_mapping({"httpAddress": f"127.0.0.1:{port}"})
        with pytest.raises(ConfigError) as info:
            check_can_serve(settings)
        assert str(info.value) == f"httpAddress: 127.0.0.1:{port}: address already in use"
        with pytest.raises(ConfigError) as info:
            load(tmp_path, f"httpAddress: '127.0.0.1:{port}'")
        path = tmp_path / "agent.yaml"
        assert str(info.value) == f"{path}: httpAddress: 127.0.0.1:{port}: address already in use"


def test_an_address_that_is_not_local_is_named(tmp_path: Path) -> None:
    settings = settings_from_mapping({"httpAddress": "192.0.2.1:9999"})  # TEST-NET-1
    with pytest.raises(ConfigError) as info:
        check_can_serve(settings)
    assert str(info.value) == "httpAddress: 192.0.2.1:9999: cannot assign requested address"


def test_agent_exits_with_one_line_before_claiming_or_writing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    events = tmp_path / "events"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "agent.yaml"
        config.write_text(
            "nodeName: n1\n"
            "etcdEndpoints: ['127.0.0.1:1']\n"
            f"vppSocket: {tmp_path / 'no-vpp.sock'}\n"
            "vppConnectTimeoutSeconds: 1\n"
            f"httpAddress: '127.0.0.1:{port}'\n"
            f"stateDir: {state}\n"
            f"eventLog: {{directory: {events}}}\n",
            encoding="utf-8",
        )
        result = subprocess.run(
            [sys.executable, "-m", "contivpp.cli", "agent", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"contivpp agent: {config}: httpAddress: 127.0.0.1:{port}: address already in use\n"
    )
    assert not state.exists() and not events.exists()
