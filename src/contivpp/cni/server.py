"""The agent side of CNI: one request handler, reachable two ways.

``contivpp-cni`` (executed per pod) relays kubelet's request over a unix socket with a
JSON-free framing (``relay.py``), because every millisecond of its start-up is paid per pod
(docs/cni.md has the measurements); the CNI spec's checks and output formats run here
(``spec.py``). The agent also serves Contiv's gRPC ``RemoteCNI`` API (Add/Delete, same proto)
so existing tooling keeps working. Both front-ends decode into :class:`CNIRequest` and call the
same :class:`PodCNIHandler`, which turns requests into ``cni.add`` / ``cni.del`` events and
answers only after the event loop has applied (or refused) the pod's configuration.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import structlog

from contivpp.cni import relay, spec
from contivpp.cni.codes import (
    DECODING_FAILURE,
    GENERIC_FAILURE,
    PLUGIN_NOT_AVAILABLE,
    TRY_AGAIN_LATER,
)
from contivpp.cni.spec import CNIHandler, CNIRequest, Result
from contivpp.errors import CNIRequestError
from contivpp.events.state import LocalPod
from contivpp.events.types import CNIAdd, CNIDel, CNIOutcome, Event

log = structlog.get_logger("contivpp.cni.server")


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
                raise CNIRequestError(PLUGIN_NOT_AVAILABLE, "the contivpp agent is not ready")
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


async def answer(handler: CNIHandler, data: bytes) -> bytes:
    """Run one relayed request and build the reply; never raises."""
    version = "1.0.0"
    try:
        fields = relay.decode_request(data)
        stdin = fields.pop("stdin", b"")
        env = {name: value.decode("utf-8", errors="replace") for name, value in fields.items()}
        version = relay.config_string(stdin, "cniVersion") or version
        with structlog.contextvars.bound_contextvars(
            cni_command=env.get("CNI_COMMAND", ""), container_id=env.get("CNI_CONTAINERID", "")[:12]
        ):
            code, out = await spec.execute(env, stdin, handler)
            if code:
                log.warning("cni_request_failed", reply=out)
        return relay.encode_reply(code, out)
    except relay.RelayError as exc:
        log.warning("cni_request_malformed", error=str(exc))
        return relay.encode_reply(1, spec.error_output(version, DECODING_FAILURE, str(exc)))
    except Exception as exc:  # the server must keep serving other pods
        log.exception("cni_request_crashed", error=str(exc))
        return relay.encode_reply(
            1, spec.error_output(version, GENERIC_FAILURE, f"internal error: {exc}")
        )


def prepare_socket_path(path: Path) -> None:
    """Create the socket's directory and remove a stale socket of a previous agent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()


async def serve_relay(
    path: Path, handler: CNIHandler, started: asyncio.Event | None = None
) -> None:
    """Serve ``contivpp-cni``'s relay protocol on a unix socket (mode 0600) until cancelled."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await reader.read(relay.MAX_REQUEST + 1)
            while not relay.request_complete(data) and len(data) <= relay.MAX_REQUEST:
                more = await reader.read(relay.MAX_REQUEST + 1 - len(data))
                if not more:
                    break  # the plugin closed its side: this is all there is
                data += more
            writer.write(await answer(handler, data))
            await writer.drain()
        except ConnectionError as exc:
            log.warning("cni_connection_failed", error=str(exc))
        finally:
            writer.close()

    prepare_socket_path(path)
    old_umask = os.umask(0o177)  # created 0600: only root (kubelet's plugins) may call us
    try:
        server = await asyncio.start_unix_server(on_client, path=str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    log.info("cni_server_listening", socket=str(path))
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()
