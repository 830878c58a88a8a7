"""The agent side of CNI: one request handler, reachable two ways.

``contivpp-cni`` (executed per pod) talks to the agent over a lean JSON-lines unix socket,
because a Python process that imports grpc pays ~70 ms more per pod (docs/cni.md has the
measurements). The agent also serves Contiv's gRPC ``RemoteCNI`` API (Add/Delete, same proto)
so existing tooling keeps working. Both front-ends decode into :class:`CNIRequest` and call the
same :class:`PodCNIHandler`, which turns requests into ``cni.add`` / ``cni.del`` events and
answers only after the event loop has applied (or refused) the pod's configuration.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import structlog

from contivpp.errors import CNIRequestError
from contivpp.events.state import LocalPod
from contivpp.events.types import CNIAdd, CNIDel, CNIOutcome, Event

log = structlog.get_logger("contivpp.cni.server")

DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
GENERIC_FAILURE = 999
MAX_REQUEST_BYTES = 1 << 20


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


def request_from_json(data: object) -> CNIRequest:
    """Decode the lean socket's request object; errors carry CNI codes."""
    if not isinstance(data, dict):
        raise CNIRequestError(DECODING_FAILURE, "request is not a JSON object")
    command = data.get("command")
    if command not in ("ADD", "DEL", "CHECK", "STATUS"):
        raise CNIRequestError(INVALID_NETWORK_CONFIG, f"unknown command {command!r}")
    fields: dict[str, Any] = {"command": command}
    for name in ("container_id", "netns", "ifname", "pod_namespace", "pod_name", "cni_version"):
        value = data.get(name, "")
        if not isinstance(value, str):
            raise CNIRequestError(DECODING_FAILURE, f"request field {name!r} must be a string")
        if value:
            fields[name] = value
    prev = data.get("prev_result")
    if prev is not None and not isinstance(prev, dict):
        raise CNIRequestError(DECODING_FAILURE, "request field 'prev_result' must be an object")
    fields["prev_result"] = prev
    request = CNIRequest(**fields)
    if command in ("ADD", "CHECK"):
        for name in ("container_id", "netns", "pod_namespace", "pod_name"):
            if not getattr(request, name):
                raise CNIRequestError(INVALID_NETWORK_CONFIG, f"{command} request without {name}")
    if command == "DEL" and not request.container_id:
        raise CNIRequestError(INVALID_NETWORK_CONFIG, "DEL request without container_id")
    return request


def build_result(request: CNIRequest, outcome: CNIOutcome) -> Result:
    return {
        "interfaces": [{"name": request.ifname, "mac": outcome.mac, "sandbox": request.netns}],
        "ips": [{"address": f"{outcome.ip}/32", "gateway": outcome.gateway, "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0", "gw": outcome.gateway}],
        "dns": {},
    }


class PodCNIHandler:
    """Turns CNI requests into events and waits for the event loop's answer."""

    def __init__(
        self,
        publish: Callable[[Event], Awaitable[None]],
        local_pods: Callable[[], Mapping[tuple[str, str], LocalPod]],
        *,
        timeout: float = 60.0,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.publish = publish
        self.local_pods = local_pods
        self.timeout = timeout
        self.ready = ready

    async def _send(self, event: CNIAdd | CNIDel) -> CNIOutcome:
        assert event.reply is not None
        await self.publish(event)
        try:
            return await asyncio.wait_for(asyncio.shield(event.reply), self.timeout)
        except TimeoutError as exc:
            raise CNIRequestError(
                TRY_AGAIN_LATER, f"the agent did not apply the request within {self.timeout:g} s"
            ) from exc

    async def handle(self, request: CNIRequest) -> Result:
        loop = asyncio.get_running_loop()
        if request.command == "STATUS":
            if not self.ready():
                raise CNIRequestError(50, "the contivpp agent is not ready")
            return {}
        if request.command == "CHECK":
            return self._check(request)
        fields = {
            "container_id": request.container_id,
            "netns": request.netns,
            "ifname": request.ifname,
            "pod_namespace": request.pod_namespace,
            "pod_name": request.pod_name,
        }
        if request.command == "DEL":
            if not request.pod_name:
                # Without CNI_ARGS the pod is found by its sandbox; unknown means done.
                pod = next(
                    (
                        p
                        for p in self.local_pods().values()
                        if p.container_id == request.container_id
                    ),
                    None,
                )
                if pod is None:
                    return {}
                fields.update(pod_namespace=pod.namespace, pod_name=pod.name)
            outcome = await self._send(CNIDel(**fields, reply=loop.create_future()))
            if outcome.error:
                raise CNIRequestError(GENERIC_FAILURE, outcome.error)
            return {}
        outcome = await self._send(CNIAdd(**fields, reply=loop.create_future()))
        if outcome.error:
            raise CNIRequestError(GENERIC_FAILURE, outcome.error)
        return build_result(request, outcome)

    def _check(self, request: CNIRequest) -> Result:
        pod = self.local_pods().get((request.pod_namespace, request.pod_name))
        if pod is None or pod.container_id != request.container_id:
            raise CNIRequestError(
                GENERIC_FAILURE, f"pod {request.pod_namespace}/{request.pod_name} is not wired"
            )
        if request.prev_result is not None:
            ips = request.prev_result.get("ips", [])
            addresses = {
                str(ip.get("address", "")).split("/")[0] for ip in ips if isinstance(ip, dict)
            }
            if pod.ip not in addresses:
                raise CNIRequestError(
                    GENERIC_FAILURE, f"pod has {pod.ip}, prevResult says {sorted(addresses)}"
                )
        return {}


def error_reply(exc: CNIRequestError) -> dict[str, Any]:
    return {"ok": False, "code": exc.code, "msg": exc.msg, "details": exc.details}


async def answer(handler: CNIHandler, line: bytes) -> dict[str, Any]:
    """Decode one request line, run it, and build the reply object; never raises."""
    try:
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CNIRequestError(DECODING_FAILURE, "request is not valid JSON", str(exc)) from exc
        request = request_from_json(data)
        with structlog.contextvars.bound_contextvars(
            cni_command=request.command, container_id=request.container_id[:12]
        ):
            result = await handler.handle(request)
        return {"ok": True, "result": result}
    except CNIRequestError as exc:
        log.warning("cni_request_failed", code=exc.code, error=exc.msg, details=exc.details)
        return error_reply(exc)
    except Exception as exc:  # the server must keep serving other pods
        log.exception("cni_request_crashed", error=str(exc))
        return error_reply(CNIRequestError(GENERIC_FAILURE, f"internal error: {exc}"))


def prepare_socket_path(path: Path) -> None:
    """Create the socket's directory and remove a stale socket of a previous agent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()


async def serve_json(path: Path, handler: CNIHandler, started: asyncio.Event | None = None) -> None:
    """Serve the lean JSON-lines protocol on a unix socket (mode 0600) until cancelled."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if line:
                reply = await answer(handler, line)
                writer.write(json.dumps(reply).encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            log.warning("cni_connection_failed", error=str(exc))
        finally:
            writer.close()

    prepare_socket_path(path)
    old_umask = os.umask(0o177)  # created 0600: only root (kubelet's plugins) may call us
    try:
        server = await asyncio.start_unix_server(on_client, path=str(path), limit=MAX_REQUEST_BYTES)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    log.info("cni_server_listening", socket=str(path))
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()
