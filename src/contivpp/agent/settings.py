"""The agent's configuration file (YAML): where everything is, plus the node's address plan.

Keys are camelCase like Contiv's ``contiv.conf``; unknown keys are rejected by name so a typo
never silently becomes a default. The address-plan part (``ipam``, ``mtu``, VRF IDs) is the
same object an event-log header carries, so a recorded log replays with the agent's plan.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from contivpp.config import (
    AgentConfig,
    EventLogConfig,
    describe,
    int_setting,
    is_linux_ifname,
    setting_name,
)
from contivpp.datastore.etcd import parse_endpoints
from contivpp.errors import ConfigError, DatastoreError

#: A third of the STN daemon's default --keepalive-timeout (30 s): two lost calls are survived.
DEFAULT_STN_KEEPALIVE = 10.0


@attrs.frozen
class STNSettings:
    """Use the STN daemon: it takes ``interface`` from the host for VPP and gives it back
    when the agent's keep-alive calls (every ``keepalive`` seconds) stop."""

    socket: Path
    interface: str
    keepalive: float = DEFAULT_STN_KEEPALIVE


@attrs.frozen
class AgentSettings:
    agent: AgentConfig
    etcd_endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    vpp_socket: Path = Path("/run/vpp/api.sock")
    cni_socket: Path = Path("/var/run/contivpp/cni.sock")
    cni_grpc_socket: Path | None = Path("/var/run/contivpp/cni-grpc.sock")
    cni_timeout: float = 60.0
    http_host: str = "127.0.0.1"
    http_port: int = 9999
    vpp_connect_timeout: float = 30.0
    #: Local memory that must survive etcd data loss: the node ID and the wired pods.
    state_dir: Path = Path("/var/lib/contivpp")
    #: None: this node's NIC is VPP's from the start (no STN daemon).
    stn: STNSettings | None = None
    #: Where service health checks (``healthCheckNodePort``) listen; None: nowhere.
    service_health_check_host: str | None = None


_PLAN_KEYS = {
    "ipam",
    "mtu",
    "mainVRFID",
    "podVRFID",
    "vxlanVNI",
    "natExternalTraffic",
    "mainInterface",
    "routeServiceCIDRToVPP",
}
_PATH_KEYS = {"vppSocket": "vpp_socket", "cniSocket": "cni_socket", "stateDir": "state_dir"}
_SOCKET_KEYS = {"vppSocket", "cniSocket", "cniGrpcSocket", "socket"}
_SECONDS_KEYS = {
    "cniTimeoutSeconds": "cni_timeout",
    "vppConnectTimeoutSeconds": "vpp_connect_timeout",
}
_EVENT_LOG_KEYS = ("directory", "maxBytes", "backups")
_STN_KEYS = ("socket", "interface", "keepaliveSeconds")
#: sun_path holds 108 bytes including the terminating NUL.
_UNIX_PATH_MAX = 107
#: Kubernetes quantity suffixes (what operators already write in resource limits).
_SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
}
_SIZE = re.compile(r"([0-9]+)([kKMG]i?)?")


def _path(key: str, value: object, *, optional: bool = False) -> Path | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        kind = "a path (string) or null" if optional else "a path (string)"
        raise ConfigError(f"{key}: must be {kind}, got {describe(value)}")
    if not value:
        if optional:
            return None  # "" turns the optional socket off, like null
        raise ConfigError(f"{key}: must not be empty")
    try:
        length = len(os.fsencode(value))
    except UnicodeEncodeError:
        raise ConfigError(f"{key}: not a valid path (lone surrogates): {value!r}") from None
    if "\0" in value:
        raise ConfigError(f"{key}: not a valid path (NUL character): {value!r}")
    if key.rpartition(".")[2] in _SOCKET_KEYS and length > _UNIX_PATH_MAX:
        raise ConfigError(
            f"{key}: {length} bytes, longer than the {_UNIX_PATH_MAX} a unix socket path can have"
        )
    return Path(value)


def _seconds(key: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{key}: must be a number of seconds, got {describe(value)}")
    if not (value > 0 and math.isfinite(value)):
        # 0 or less would fail every request at once; nan / inf never time out.
        raise ConfigError(f"{key}: must be a positive number of seconds, got {value}")
    return float(value)


def _host_port(key: str, value: object) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be HOST:PORT (string), got {describe(value)}")
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:9999
    if not host or not port.isdigit():
        raise ConfigError(f"{key}: must be HOST:PORT, got {value!r}")
    if int(port) > 65535:
        raise ConfigError(f"{key}: port {int(port)} is out of range (0-65535)")
    return host, int(port)


def _ip_address(key: str, value: object) -> str | None:
    """An address to listen on (``0.0.0.0``: every IPv4 address), or null for none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key}: must be an IP address (string) or null, got {describe(value)}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not an IP address") from None


def _etcd_endpoints(key: str, value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{key}: must be a list of HOST:PORT strings, got {describe(value)}")
    for item in items:
        try:
            parse_endpoints([item] if isinstance(item, str) else [])
        except DatastoreError:
            raise ConfigError(f"{key}: {item!r} is not HOST:PORT") from None
    if not items:
        raise ConfigError(f"{key}: must list at least one HOST:PORT")
    return tuple(items)


def parse_size(key: str, value: object) -> int:
    """Bytes, as an integer or a string with a Kubernetes unit (``64Mi``, ``1G``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            units = ", ".join(u for u in _SIZE_UNITS if u and u != "K")
            raise ConfigError(
                f"{key}: {value!r} is not a size (bytes, as an integer or with a unit: {units})"
            )
        size = int(match[1]) * _SIZE_UNITS[match[2] or ""]
    return int_setting(key, size, 1)


def _section(key: str, section: object, known: tuple[str, ...]) -> Mapping[str, Any]:
    """A nested mapping of settings, each of its keys one of ``known``."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{key}: must be a mapping, got {type(section).__name__}")
    for name in section:
        if name not in known:
            names = ", ".join(known)
            raise ConfigError(f"{setting_name(key, name)}: unknown setting (known: {names})")
    return section


def _event_log(key: str, value: object) -> EventLogConfig:
    section = _section(key, value, _EVENT_LOG_KEYS)
    default = EventLogConfig()
    return EventLogConfig(
        directory=_path(f"{key}.directory", section.get("directory"), optional=True),
        max_bytes=parse_size(f"{key}.maxBytes", section.get("maxBytes", default.max_bytes)),
        backups=int_setting(f"{key}.backups", section.get("backups", default.backups), 0),
    )


def _stn(key: str, value: object) -> STNSettings | None:
    if value is None:
        return None
    section = _section(key, value, _STN_KEYS)
    for name in ("socket", "interface"):
        if name not in section:
            raise ConfigError(f"{key}.{name}: required when {key} is set")
    interface = section["interface"]
    if not is_linux_ifname(interface):
        raise ConfigError(
            f"{key}.interface: must be a Linux interface name, got {describe(interface)}"
        )
    socket_path = _path(f"{key}.socket", section["socket"])
    assert socket_path is not None
    keepalive = DEFAULT_STN_KEEPALIVE
    if "keepaliveSeconds" in section:
        keepalive = _seconds(f"{key}.keepaliveSeconds", section["keepaliveSeconds"])
    return STNSettings(socket=socket_path, interface=interface, keepalive=keepalive)


def _node_name(data: Mapping[str, Any]) -> str:
    if "nodeName" not in data:
        return os.environ.get("NODE_NAME") or socket.gethostname()
    value = data["nodeName"]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"nodeName: must be a non-empty string, got {describe(value)}")
    return value


def settings_from_mapping(data: object, where: str = "config") -> AgentSettings:
    """Validated settings; a mistake is one :class:`ConfigError` line ``where: setting: ...``."""
    try:
        return _settings(data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _settings(data: object) -> AgentSettings:
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}")
    node_name = _node_name(data)
    plan = {k: v for k, v in data.items() if k in _PLAN_KEYS}
    kwargs: dict[str, Any] = {}
    event_log = EventLogConfig()
    for key, value in data.items():
        if key in _PLAN_KEYS or key == "nodeName":
            continue
        if key == "etcdEndpoints":
            kwargs["etcd_endpoints"] = _etcd_endpoints(key, value)
        elif key in _PATH_KEYS:
            kwargs[_PATH_KEYS[key]] = _path(key, value)
        elif key == "cniGrpcSocket":
            kwargs["cni_grpc_socket"] = _path(key, value, optional=True)
        elif key in _SECONDS_KEYS:
            kwargs[_SECONDS_KEYS[key]] = _seconds(key, value)
        elif key == "httpAddress":
            kwargs["http_host"], kwargs["http_port"] = _host_port(key, value)
        elif key == "eventLog":
            event_log = _event_log(key, value)
        elif key == "stn":
            kwargs["stn"] = _stn(key, value)
        elif key == "serviceHealthCheckAddress":
            kwargs["service_health_check_host"] = _ip_address(key, value)
        else:
            raise ConfigError(f"{setting_name('', key)}: unknown setting")
    agent = attrs.evolve(AgentConfig.from_overrides(node_name, plan, ""), event_log=event_log)
    if agent.main_interface is not None and kwargs.get("stn") is not None:
        raise ConfigError(
            "mainInterface: not with stn (with STN the uplink is the stolen NIC, configured "
            "from what the host had on it)"
        )
    return AgentSettings(agent=agent, **kwargs)


def load_settings(path: Path) -> AgentSettings:
    """The agent's settings from its file, checked as far as possible before anything runs.

    Besides parsing, this checks the HTTP address can be listened on (:func:`check_can_serve`):
    ``contivpp agent`` loads its settings before it claims the node ID or writes a file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read agent config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 at byte {exc.start}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc)}") from exc
    settings = settings_from_mapping({} if data is None else data, str(path))
    try:
        check_can_serve(settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return settings


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line with the place it points at."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def check_can_serve(settings: AgentSettings) -> None:
    """Fail now, naming the setting, if the agent could not listen where it is configured to.

    Meant to run after loading the settings and before the node ID is claimed or any file is
    written, so an address already in use is one line, not an error after start-up work.
    Binding and closing again leaves a window in which another process may take the port;
    this is a check for the operator's mistake, not a reservation.
    """
    host, port = settings.http_host, settings.http_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"httpAddress: {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The agent's server sets SO_REUSEADDR too: a port in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"httpAddress: {host}:{port}: {reason}") from exc
