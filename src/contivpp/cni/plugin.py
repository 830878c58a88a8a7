"""``contivpp-cni``: the CNI plugin kubelet executes once per pod sandbox.

kubelet (through the container runtime) runs this binary for every ADD, DEL, CHECK and
STATUS, so its start-up time is paid per pod. It is therefore a relay and nothing more: it
imports only built-in modules (not even ``json`` or ``typing``; docs/cni.md has the numbers),
sends the ``CNI_*`` environment and stdin to the agent over its unix socket, and prints the
agent's answer (the spec's result or error object) with the agent's exit status. It answers
alone only what needs no agent: VERSION, the "about" text, and "try again later" (code 11;
50 for STATUS) when the agent cannot be reached.
"""

from __future__ import annotations

import _socket  # the C module: ``socket`` adds ~3 ms of enum set-up to every pod's ADD
import os
import sys

from contivpp.cni import relay
from contivpp.cni.codes import (
    DECODING_FAILURE,
    GENERIC_FAILURE,
    INVALID_NETWORK_CONFIG,
    PLUGIN_NOT_AVAILABLE,
    SUPPORTED_VERSIONS,
    TRY_AGAIN_LATER,
)

DEFAULT_SOCKET = "/var/run/contivpp/cni.sock"
DEFAULT_TIMEOUT = 120.0


def _quote(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in out) + '"'


def error_output(version: str, code: int, msg: str, details: str = "") -> str:
    """The spec's error object, pretty-printed like the reference plugins print it."""
    lines = [
        f'    "cniVersion": {_quote(version)}',
        f'    "code": {code}',
        f'    "msg": {_quote(msg)}',
    ]
    if details:
        lines.append(f'    "details": {_quote(details)}')
    return "{\n" + ",\n".join(lines) + "\n}"


def version_output() -> str:
    versions = ",".join(_quote(v) for v in SUPPORTED_VERSIONS)
    return '{"cniVersion":"1.0.0","supportedVersions":[' + versions + "]}\n"


def call_agent(path: str, request: bytes, timeout: float) -> bytes:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()


def run(env: dict[str, str], stdin: bytes) -> tuple[int, str, str]:
    """Run one CNI command; return (exit status, stdout, stderr)."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        about = "contivpp CNI plugin\nCNI protocol versions supported: "
        return 0, "", about + ", ".join(SUPPORTED_VERSIONS) + "\n"
    if command == "VERSION":
        return 0, version_output(), ""
    version = relay.config_string(stdin, "cniVersion") or "1.0.0"
    path = relay.config_string(stdin, "agentSocket")
    if not path:
        # Unusual config (no plain agentSocket string): only now is the JSON parser worth its
        # import, to tell a broken config (the spec's code 6) from one using the default.
        import json

        try:
            json.loads(stdin)
        except ValueError as exc:
            return (
                1,
                error_output(version, DECODING_FAILURE, f"error unmarshall network config: {exc}"),
                "",
            )
        path = DEFAULT_SOCKET
    fields = {name: env.get(name, "").encode() for name in relay.FIELDS}
    fields["stdin"] = stdin
    request = relay.encode_request(fields)
    if len(request) > relay.MAX_REQUEST:
        # Refused here: the agent would refuse it too, and sending it only costs time.
        return 1, error_output(version, INVALID_NETWORK_CONFIG, relay.too_large(len(request))), ""
    timeout = relay.config_number(stdin, "timeoutSeconds")
    if timeout is not None and not 0 < timeout <= relay.MAX_TIMEOUT:
        return 1, error_output(version, INVALID_NETWORK_CONFIG, relay.TIMEOUT_RANGE), ""
    try:
        reply = call_agent(path, request, timeout or DEFAULT_TIMEOUT)
    except OSError as exc:
        if command == "STATUS":
            return (
                1,
                error_output(
                    version, PLUGIN_NOT_AVAILABLE, "the contivpp agent is not available", str(exc)
                ),
                "",
            )
        return (
            1,
            error_output(
                version, TRY_AGAIN_LATER, f"contivpp agent unreachable at {path}", str(exc)
            ),
            "",
        )
    try:
        code, out = relay.decode_reply(reply)
    except relay.RelayError as exc:
        return 1, error_output(version, GENERIC_FAILURE, str(exc)), ""
    return code, out.decode("utf-8", errors="replace"), ""


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
