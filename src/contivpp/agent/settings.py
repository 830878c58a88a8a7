"""The agent's configuration file (YAML): where everything is, plus the node's address plan.

Keys are camelCase like Contiv's ``contiv.conf``; unknown keys are rejected by name so a typo
never silently becomes a default. The address-plan part (``ipam``, ``mtu``, VRF IDs) is the
same object an event-log header carries, so a recorded log replays with the agent's plan.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from contivpp.config import AgentConfig, EventLogConfig
from contivpp.errors import ConfigError


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


_PLAN_KEYS = {"ipam", "mtu", "mainVRFID", "podVRFID", "vxlanVNI"}
_PATH_KEYS = {"vppSocket": "vpp_socket", "cniSocket": "cni_socket", "stateDir": "state_dir"}


def _expect(data: Mapping[str, Any], key: str, typ: type | tuple[type, ...], where: str) -> Any:
    value = data[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key}: wrong type {type(value).__name__}")
    return value


def settings_from_mapping(data: object, where: str = "config") -> AgentSettings:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    node_name = data.get("nodeName") or os.environ.get("NODE_NAME") or socket.gethostname()
    if not isinstance(node_name, str):
        raise ConfigError(f"{where}: nodeName must be a string")
    plan = {k: v for k, v in data.items() if k in _PLAN_KEYS}
    kwargs: dict[str, Any] = {}
    event_log = EventLogConfig()
    for key in data:
        if key in _PLAN_KEYS or key == "nodeName":
            continue
        if key == "etcdEndpoints":
            value = data[key]
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where}: etcdEndpoints must be a list of HOST:PORT strings")
            kwargs["etcd_endpoints"] = tuple(items)
        elif key in _PATH_KEYS:
            kwargs[_PATH_KEYS[key]] = Path(_expect(data, key, str, where))
        elif key == "cniGrpcSocket":
            value = data[key]
            kwargs["cni_grpc_socket"] = Path(value) if value else None
        elif key in ("cniTimeoutSeconds", "vppConnectTimeoutSeconds"):
            attr = {
                "cniTimeoutSeconds": "cni_timeout",
                "vppConnectTimeoutSeconds": "vpp_connect_timeout",
            }
            kwargs[attr[key]] = float(_expect(data, key, (int, float), where))
        elif key == "httpAddress":
            host, _, port = str(_expect(data, key, str, where)).rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"{where}: httpAddress must be HOST:PORT")
            kwargs["http_host"], kwargs["http_port"] = host, int(port)
        elif key == "eventLog":
            section = data[key]
            if not isinstance(section, Mapping):
                raise ConfigError(f"{where}: eventLog must be a mapping")
            unknown = set(section) - {"directory", "maxBytes", "backups"}
            if unknown:
                raise ConfigError(f"{where}: eventLog: unknown setting(s) {sorted(unknown)}")
            event_log = EventLogConfig(
                directory=Path(section["directory"]) if section.get("directory") else None,
                max_bytes=int(section.get("maxBytes", event_log.max_bytes)),
                backups=int(section.get("backups", event_log.backups)),
            )
        else:
            raise ConfigError(f"{where}: {key}: unknown setting")
    agent = attrs.evolve(AgentConfig.from_overrides(node_name, plan, where), event_log=event_log)
    return AgentSettings(agent=agent, **kwargs)


def load_settings(path: Path) -> AgentSettings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read agent config {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    return settings_from_mapping(data, str(path))
