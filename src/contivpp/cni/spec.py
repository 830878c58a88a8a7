"""The CNI specification's side of a request: validation, results and errors.

Runs in the agent, not in the per-pod binary: ``contivpp-cni`` only relays kubelet's
environment and stdin (see ``relay.py``) and prints what comes back, so that it does not even
import ``json``. Here the invocation is checked as the spec says (environment, network
config, version), turned into a :class:`CNIRequest` for the agent's handler, and the answer is
printed in the result format of the caller's CNI version, or as the spec's error object.
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol

import attrs

from contivpp.errors import CNIRequestError

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

# CNI spec error codes.
INCOMPATIBLE_VERSION = 1
INVALID_ENVIRONMENT = 4
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
GENERIC_FAILURE = 999


class PluginError(Exception):
    """A request the spec says to refuse, with the spec's error code."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def parse_cni_args(text: str) -> dict[str, str]:
    """CNI_ARGS: ``K=V;K2=V2``."""
    out: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise PluginError(INVALID_ENVIRONMENT, f"invalid CNI_ARGS pair {item!r}: expected K=V")
        out[key] = value
    return out


def _required_env(env: dict[str, str], command: str) -> None:
    needed = ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]
    if command in ("ADD", "CHECK"):
        needed.insert(1, "CNI_NETNS")
    if command == "STATUS":
        needed = []
    missing = [name for name in needed if not env.get(name)]
    if missing:
        raise PluginError(
            INVALID_ENVIRONMENT, f"required env variables [{','.join(missing)}] missing"
        )


def _load_config(stdin: bytes) -> dict[str, Any]:
    try:
        config = json.loads(stdin.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PluginError(DECODING_FAILURE, f"error unmarshall network config: {exc}") from exc
    if not isinstance(config, dict):
        raise PluginError(DECODING_FAILURE, "error unmarshall network config: not a JSON object")
    version = config.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise PluginError(INVALID_NETWORK_CONFIG, "network config has no cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise PluginError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {list(SUPPORTED_VERSIONS)}",
        )
    for field, typ in (("agentSocket", str), ("timeoutSeconds", (int, float))):
        if field in config and not isinstance(config[field], typ):
            raise PluginError(
                INVALID_NETWORK_CONFIG, f"network config field {field!r} has a wrong type"
            )
    return config


def build_request(env: dict[str, str], stdin: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a CNI invocation; return (network config, the request's fields)."""
    command = env.get("CNI_COMMAND", "")
    if command not in ("ADD", "DEL", "CHECK", "STATUS"):
        raise PluginError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND: {command}")
    config = _load_config(stdin)
    _required_env(env, command)
    version = config["cniVersion"]
    if command == "STATUS" and _version_tuple(version) < (1, 1, 0):
        raise PluginError(INCOMPATIBLE_VERSION, "incompatible CNI versions", "STATUS needs 1.1.0")
    args = parse_cni_args(env.get("CNI_ARGS", ""))
    netns = env.get("CNI_NETNS", "")
    if command in ("ADD", "CHECK") and not os.path.exists(netns):
        raise PluginError(
            GENERIC_FAILURE, f"failed to open netns {netns!r}: no such file or directory"
        )
    if command in ("ADD", "CHECK") and not (
        args.get("K8S_POD_NAMESPACE") and args.get("K8S_POD_NAME")
    ):
        raise PluginError(
            INVALID_ENVIRONMENT, "CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME"
        )
    if command == "CHECK" and _version_tuple(version) >= (0, 4, 0) and "prevResult" not in config:
        raise PluginError(INVALID_NETWORK_CONFIG, "Required prevResult missing")
    request = {
        "command": command,
        "cni_version": version,
        "container_id": env.get("CNI_CONTAINERID", ""),
        "netns": netns,
        "ifname": env.get("CNI_IFNAME", ""),
        "pod_namespace": args.get("K8S_POD_NAMESPACE", ""),
        "pod_name": args.get("K8S_POD_NAME", ""),
        "args": env.get("CNI_ARGS", ""),
        "config": stdin.decode("utf-8"),
    }
    if command == "CHECK" and "prevResult" in config:
        prev = config["prevResult"]
        if not isinstance(prev, dict):
            raise PluginError(DECODING_FAILURE, "prevResult must be a JSON object")
        request["prev_result"] = prev
    return config, request


def format_result(version: str, result: dict[str, Any]) -> dict[str, Any]:
    """The agent answers in 1.0.0 shape; older callers get per-IP ``version`` fields."""
    out: dict[str, Any] = {"cniVersion": version}
    out["interfaces"] = result.get("interfaces", [])
    ips = []
    for ip in result.get("ips", []):
        entry = dict(ip)
        if _version_tuple(version) < (1, 0, 0):
            entry["version"] = "6" if ":" in entry.get("address", "") else "4"
        ips.append(entry)
    out["ips"] = ips
    out["routes"] = result.get("routes", [])
    out["dns"] = result.get("dns", {})
    return out


@attrs.frozen
class CNIRequest:
    command: str  # ADD | DEL | CHECK | STATUS
    container_id: str = ""
    netns: str = ""
    ifname: str = "eth0"
    pod_namespace: str = ""
    pod_name: str = ""
    cni_version: str = "1.0.0"
    prev_result: dict[str, Any] | None = attrs.field(default=None, eq=False)


Result = dict[str, Any]
"""A CNI result in the spec's 1.0.0 shape (interfaces, ips, routes, dns)."""


class CNIHandler(Protocol):
    async def handle(self, request: CNIRequest) -> Result: ...


def error_output(version: str, code: int, msg: str, details: str = "") -> str:
    error: dict[str, Any] = {"cniVersion": version, "code": code, "msg": msg}
    if details:
        error["details"] = details
    return json.dumps(error, indent=4)


async def execute(env: dict[str, str], stdin: bytes, handler: CNIHandler) -> tuple[int, str]:
    """Run one relayed CNI invocation; return (exit status, stdout) for the plugin to print."""
    command = env.get("CNI_COMMAND", "")
    version = "1.0.0"
    try:
        config, fields = build_request(env, stdin)
        version = config["cniVersion"]
        request = CNIRequest(
            command=command,
            container_id=fields["container_id"],
            netns=fields["netns"],
            ifname=fields["ifname"] or "eth0",
            pod_namespace=fields["pod_namespace"],
            pod_name=fields["pod_name"],
            cni_version=version,
            prev_result=fields.get("prev_result"),
        )
        try:
            result = await handler.handle(request)
        except CNIRequestError as exc:
            raise PluginError(exc.code, exc.msg, exc.details) from exc
        if command == "ADD":
            return 0, json.dumps(format_result(version, result), indent=4)
        return 0, ""
    except PluginError as exc:
        return 1, error_output(version, exc.code, exc.msg, exc.details)
