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
import re
from typing import Any, Protocol

import attrs

from contivpp.cni.codes import (
    DECODING_FAILURE,
    GENERIC_FAILURE,
    INCOMPATIBLE_VERSION,
    INVALID_ENVIRONMENT,
    INVALID_NETWORK_CONFIG,
    SUPPORTED_VERSIONS,
)
from contivpp.cni.relay import MAX_TIMEOUT, TIMEOUT_RANGE
from contivpp.errors import CNIRequestError


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
            raise CNIRequestError(
                INVALID_ENVIRONMENT, f"invalid CNI_ARGS pair {item!r}: expected K=V"
            )
        out[key] = value
    return out


#: The spec's container ID: "alphanumeric, optionally followed by alphanumerics, ``_ . -``".
#: ASCII only (``re.ASCII``): the ID ends up in VPP tags and file names.
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", re.ASCII)

#: The first version that has each command (the reference skel refuses older configs).
_COMMAND_SINCE = {"CHECK": (0, 4, 0), "STATUS": (1, 1, 0), "GC": (1, 1, 0)}

VALID_ATTACHMENTS = "cni.dev/valid-attachments"
LEGACY_ATTACHMENTS = "cni.dev/attachments"


def _required_env(env: dict[str, str], command: str) -> None:
    needed = ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"]
    if command in ("ADD", "CHECK"):
        needed.insert(1, "CNI_NETNS")
    if command == "STATUS":
        needed = []
    if command == "GC":
        needed = ["CNI_PATH"]
    missing = [name for name in needed if not env.get(name)]
    if missing:
        raise CNIRequestError(
            INVALID_ENVIRONMENT, f"required env variables [{','.join(missing)}] missing"
        )


def check_container_id(container_id: str) -> None:
    if not _CONTAINER_ID.fullmatch(container_id):
        raise CNIRequestError(
            INVALID_ENVIRONMENT, "invalid characters in containerID", container_id
        )


def _valid_attachments(config: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """GC's ``cni.dev/valid-attachments``: the (containerID, ifname) pairs still in use.

    libcni also sends the list as ``cni.dev/attachments`` (the name in an earlier draft of the
    spec), which is accepted alone too. Without either, GC is refused: an absent list read as
    empty would unwire every pod of the node.
    """
    items = config.get(VALID_ATTACHMENTS, config.get(LEGACY_ATTACHMENTS))
    if items is None:
        raise CNIRequestError(
            INVALID_NETWORK_CONFIG, f"GC needs the network config field {VALID_ATTACHMENTS!r}"
        )
    if not isinstance(items, list):
        raise CNIRequestError(
            INVALID_NETWORK_CONFIG, f"network config field {VALID_ATTACHMENTS!r} must be a list"
        )
    out = set()
    for index, item in enumerate(items):
        cid = item.get("containerID") if isinstance(item, dict) else None
        ifname = item.get("ifname") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not isinstance(ifname, str):
            raise CNIRequestError(
                INVALID_NETWORK_CONFIG,
                f"network config field {VALID_ATTACHMENTS!r}[{index}] must be an object "
                "with string fields containerID and ifname",
            )
        out.add((cid, ifname))
    return frozenset(out)


def request_version(stdin: bytes) -> str:
    """The caller's cniVersion as far as it can be read, so even an error speaks it."""
    try:
        config = json.loads(stdin)
    except ValueError:
        return "1.0.0"
    version = config.get("cniVersion") if isinstance(config, dict) else None
    return version if isinstance(version, str) and version else "1.0.0"


def _load_config(stdin: bytes) -> dict[str, Any]:
    try:
        config = json.loads(stdin.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CNIRequestError(DECODING_FAILURE, f"error unmarshall network config: {exc}") from exc
    if not isinstance(config, dict):
        raise CNIRequestError(
            DECODING_FAILURE, "error unmarshall network config: not a JSON object"
        )
    version = config.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CNIRequestError(INVALID_NETWORK_CONFIG, "network config has no cniVersion")
    if version not in SUPPORTED_VERSIONS:
        raise CNIRequestError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {list(SUPPORTED_VERSIONS)}",
        )
    for field, typ in (("agentSocket", str), ("timeoutSeconds", (int, float))):
        if field in config and (
            not isinstance(config[field], typ) or isinstance(config[field], bool)
        ):
            raise CNIRequestError(
                INVALID_NETWORK_CONFIG, f"network config field {field!r} has a wrong type"
            )
    timeout = config.get("timeoutSeconds", 1)
    if not 0 < timeout <= MAX_TIMEOUT:
        raise CNIRequestError(INVALID_NETWORK_CONFIG, TIMEOUT_RANGE)
    return config


def build_request(env: dict[str, str], stdin: bytes) -> CNIRequest:
    """Validate a CNI invocation (raises CNIRequestError with the spec's code)."""
    command = env.get("CNI_COMMAND", "")
    if command not in ("ADD", "DEL", "CHECK", "STATUS", "GC"):
        raise CNIRequestError(INVALID_ENVIRONMENT, f"unknown CNI_COMMAND: {command}")
    config = _load_config(stdin)
    _required_env(env, command)
    version = config["cniVersion"]
    if command in _COMMAND_SINCE and _version_tuple(version) < _COMMAND_SINCE[command]:
        raise CNIRequestError(INCOMPATIBLE_VERSION, f"config version does not allow {command}")
    if command == "GC":
        return CNIRequest(
            command=command, cni_version=version, valid_attachments=_valid_attachments(config)
        )
    if command != "STATUS":
        check_container_id(env.get("CNI_CONTAINERID", ""))
    args = parse_cni_args(env.get("CNI_ARGS", ""))
    netns = env.get("CNI_NETNS", "")
    if command in ("ADD", "CHECK") and not os.path.exists(netns):
        raise CNIRequestError(
            GENERIC_FAILURE, f"failed to open netns {netns!r}: no such file or directory"
        )
    if command in ("ADD", "CHECK") and not (
        args.get("K8S_POD_NAMESPACE") and args.get("K8S_POD_NAME")
    ):
        raise CNIRequestError(
            INVALID_ENVIRONMENT, "CNI_ARGS must carry K8S_POD_NAMESPACE and K8S_POD_NAME"
        )
    if command == "CHECK" and _version_tuple(version) >= (0, 4, 0) and "prevResult" not in config:
        raise CNIRequestError(INVALID_NETWORK_CONFIG, "Required prevResult missing")
    prev = None
    if command == "CHECK" and "prevResult" in config:
        prev = config["prevResult"]
        if not isinstance(prev, dict):
            raise CNIRequestError(DECODING_FAILURE, "prevResult must be a JSON object")
    return CNIRequest(
        command=command,
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=netns,
        ifname=env.get("CNI_IFNAME", "") or "eth0",
        pod_namespace=args.get("K8S_POD_NAMESPACE", ""),
        pod_name=args.get("K8S_POD_NAME", ""),
        cni_version=version,
        prev_result=prev,
    )


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
    #: GC only: the (container ID, ifname) attachments the runtime still uses.
    valid_attachments: frozenset[tuple[str, str]] = frozenset()


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
    request: CNIRequest | None = None
    try:
        request = build_request(env, stdin)
        result = await handler.handle(request)
    except CNIRequestError as exc:
        # An invalid request still gets its answer in the caller's version when one is legible.
        version = request.cni_version if request is not None else request_version(stdin)
        return 1, error_output(version, exc.code, exc.msg, exc.details)
    if request.command == "ADD":
        return 0, json.dumps(format_result(request.cni_version, result), indent=4)
    return 0, ""
