"""``contivpp-cni``: the CNI plugin kubelet executes once per pod sandbox.

kubelet (through the container runtime) runs this binary for every ADD, DEL and CHECK, so its
start-up time is paid per pod. It therefore imports only the standard library: no gRPC, no
attrs, no structlog. It validates the request as the CNI spec says (environment, stdin
config, version), forwards it to the agent as one JSON line over the agent's unix socket,
and prints the agent's answer in the result format of the caller's CNI version. Every failure
is a spec error object on stdout with exit status 1 (docs/cni.md).
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` adds ~3 ms of enum set-up to every pod's ADD
import json
import os
import sys

# typing is not imported at run time either (another ~3 ms); annotations stay strings.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
DEFAULT_SOCKET = "/var/run/contivpp/cni.sock"
DEFAULT_TIMEOUT = 120.0

# CNI spec error codes.
INCOMPATIBLE_VERSION = 1
INVALID_ENVIRONMENT = 4
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50
GENERIC_FAILURE = 999


class PluginError(Exception):
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
    """Validate a CNI invocation; return (network config, request for the agent)."""
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
        request["prev_result"] = config["prevResult"]
    return config, request


def call_agent(path: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One JSON line out, one JSON line back, over the agent's unix socket."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except OSError as exc:
            raise PluginError(
                TRY_AGAIN_LATER, f"contivpp agent unreachable at {path}", exc.strerror or str(exc)
            ) from exc
        sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    except TimeoutError as exc:
        raise PluginError(
            TRY_AGAIN_LATER, f"contivpp agent did not answer within {timeout:g} s"
        ) from exc
    except OSError as exc:
        raise PluginError(
            TRY_AGAIN_LATER, "connection to the contivpp agent failed", str(exc)
        ) from exc
    finally:
        sock.close()
    try:
        reply = json.loads(b"".join(chunks))
    except json.JSONDecodeError as exc:
        raise PluginError(
            GENERIC_FAILURE, "the contivpp agent sent a malformed reply", str(exc)
        ) from exc
    if not isinstance(reply, dict):
        raise PluginError(GENERIC_FAILURE, "the contivpp agent sent a malformed reply")
    if not reply.get("ok"):
        raise PluginError(
            int(reply.get("code") or GENERIC_FAILURE),
            str(reply.get("msg", "")),
            str(reply.get("details", "")),
        )
    return reply


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


def run(env: dict[str, str], stdin: bytes) -> tuple[int, str, str]:
    """Run one CNI command; return (exit status, stdout, stderr). Pure but for the socket call."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        about = "contivpp CNI plugin\nCNI protocol versions supported: " + ", ".join(
            SUPPORTED_VERSIONS
        )
        return 0, "", about + "\n"
    if command == "VERSION":
        return (
            0,
            json.dumps(
                {"cniVersion": "1.0.0", "supportedVersions": list(SUPPORTED_VERSIONS)},
                separators=(",", ":"),
            )
            + "\n",
            "",
        )
    version = "1.0.0"
    try:
        config, request = build_request(env, stdin)
        version = config["cniVersion"]
        timeout = float(config.get("timeoutSeconds", DEFAULT_TIMEOUT))
        try:
            reply = call_agent(config.get("agentSocket", DEFAULT_SOCKET), request, timeout)
        except PluginError as exc:
            if command == "STATUS" and exc.code == TRY_AGAIN_LATER:
                raise PluginError(
                    PLUGIN_NOT_AVAILABLE, "the contivpp agent is not available", exc.details
                ) from exc
            raise
        if command == "ADD":
            return 0, json.dumps(format_result(version, reply.get("result", {})), indent=4), ""
        return 0, "", ""
    except PluginError as exc:
        error: dict[str, Any] = {"cniVersion": version, "code": exc.code, "msg": exc.msg}
        if exc.details:
            error["details"] = exc.details
        return 1, json.dumps(error, indent=4), ""


def main() -> int:
    stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    code, out, err = run(dict(os.environ), stdin)
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    if err:
        sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main())
