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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import structlog

from contivpp import private
from contivpp.cni import relay, spec
from contivpp.cni.codes import (
    DECODING_FAILURE,
    GENERIC_FAILURE,
    INVALID_NETWORK_CONFIG,
    PLUGIN_NOT_AVAILABLE,
    TRY_AGAIN_LATER,
)
from contivpp.cni.spec import CNIHandler, CNIRequest, Result
from contivpp.errors import CNIRequestError
from contivpp.events.state import LocalPod
from contivpp.events.types import CNIAdd, CNIDel, CNIOutcome, Event

log = structlog.get_logger("contivpp.cni.server")

#: How much of an oversized request is read (and thrown away) before answering: enough for
#: any plausible mistake, bounded so a runaway sender cannot keep a connection forever.
DRAIN_LIMIT = 64 << 20


def build_result(request: CNIRequest, outcome: CNIOutcome) -> Result:
    return {
        "interfaces": [{"name": request.ifname, "mac": outcome.mac, "sandbox": request.netns}],
        "ips": [{"address": f"{outcome.ip}/32", "gateway": outcome.gateway, "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0", "gw": outcome.gateway}],
        "dns": {},
    }


NotReady = Callable[[], Sequence[str]]
"""The reasons the agent cannot wire pods right now; empty when it can."""

VerifyPod = Callable[[LocalPod], Awaitable[Sequence[str]]]
"""What a wired pod is missing (pod side and VPP side); empty when it is complete."""


async def _nothing_to_verify(pod: LocalPod) -> Sequence[str]:
    return ()


class PodCNIHandler:
    """Turns CNI requests into events and waits for the event loop's answer."""

    def __init__(
        self,
        publish: Callable[[Event], Awaitable[None]],
        local_pods: Callable[[], Mapping[tuple[str, str], LocalPod]],
        *,
        timeout: float = 60.0,
        not_ready: NotReady = tuple,
        verify: VerifyPod = _nothing_to_verify,
    ) -> None:
        self.publish = publish
        self.local_pods = local_pods
        self.timeout = timeout
        self.not_ready = not_ready
        self.verify = verify

    def _refuse_if_not_ready(self, code: int) -> None:
        reasons = self.not_ready()
        if reasons:
            raise CNIRequestError(code, "the contivpp agent is not ready: " + "; ".join(reasons))

    def _failed(self, error: str) -> CNIRequestError:
        # VPP may have gone away while the request was applied: that is worth a retry.
        if self.not_ready():
            return CNIRequestError(TRY_AGAIN_LATER, error)
        return CNIRequestError(GENERIC_FAILURE, error)

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
            self._refuse_if_not_ready(PLUGIN_NOT_AVAILABLE)
            return {}
        if request.command == "CHECK":
            return await self._check(request)
        # Answer at once rather than after a VPP call times out: kubelet retries code 11.
        self._refuse_if_not_ready(TRY_AGAIN_LATER)
        if request.command == "GC":
            await self._gc(request.valid_attachments)
            return {}
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
                raise self._failed(outcome.error)
            return {}
        outcome = await self._send(CNIAdd(**fields, reply=loop.create_future()))
        if outcome.error:
            raise self._failed(outcome.error)
        return build_result(request, outcome)

    async def _gc(self, valid: frozenset[tuple[str, str]]) -> None:
        """CNI 1.1 GC: unwire every pod whose attachment the runtime no longer lists."""
        loop = asyncio.get_running_loop()
        stale = [p for p in self.local_pods().values() if (p.container_id, p.ifname) not in valid]
        for pod in sorted(stale, key=lambda p: (p.namespace, p.name)):
            log.info("cni_gc_pod", pod=f"{pod.namespace}/{pod.name}", container_id=pod.container_id)
            outcome = await self._send(
                CNIDel(
                    container_id=pod.container_id,
                    netns=pod.netns,
                    ifname=pod.ifname,
                    pod_namespace=pod.namespace,
                    pod_name=pod.name,
                    reply=loop.create_future(),
                )
            )
            if outcome.error:
                raise self._failed(f"GC of {pod.namespace}/{pod.name}: {outcome.error}")

    async def _check(self, request: CNIRequest) -> Result:
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
        missing = await self.verify(pod)
        if missing:
            raise CNIRequestError(
                GENERIC_FAILURE,
                f"pod {pod.namespace}/{pod.name} is missing: " + "; ".join(missing),
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


async def _too_large(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """Refuse an oversized request, after reading the rest so the sender sees no broken pipe."""
    total = len(head)
    while total <= DRAIN_LIMIT and (chunk := await reader.read(1 << 16)):
        total += len(chunk)
    error = relay.too_large(total)
    log.warning("cni_request_too_large", size=total, limit=relay.MAX_REQUEST)
    version = relay.config_string(head, "cniVersion") or "1.0.0"
    return relay.encode_reply(1, spec.error_output(version, INVALID_NETWORK_CONFIG, error))


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
            if len(data) > relay.MAX_REQUEST:
                writer.write(await _too_large(reader, data))
            else:
                writer.write(await answer(handler, data))
            await writer.drain()
        except ConnectionError as exc:
            log.warning("cni_connection_failed", error=str(exc))
        finally:
            writer.close()

    private.prepare(path)
    with private.private_umask():  # only root (kubelet's plugins) may call us
        server = await asyncio.start_unix_server(on_client, path=str(path))
    inode = private.seal(path)
    log.info("cni_server_listening", socket=str(path))
    if started is not None:
        started.set()
    try:
        async with server:
            await server.serve_forever()
    finally:
        private.remove(path, inode)
