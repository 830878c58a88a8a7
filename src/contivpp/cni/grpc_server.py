"""Contiv's gRPC ``RemoteCNI`` API (Add/Delete) in front of the agent's CNI handler.

Same proto package, service and field numbers as contiv/vpp's ``cni.proto``, so a Contiv
CNI binary or other tooling built for it can drive a contivpp agent. Requests are decoded into
the same :class:`~contivpp.cni.server.CNIRequest` the lean socket uses.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import structlog

from contivpp import private
from contivpp.cni import relay
from contivpp.cni.codes import GENERIC_FAILURE, INVALID_ENVIRONMENT, INVALID_NETWORK_CONFIG
from contivpp.cni.proto import cni_pb2, cni_pb2_grpc
from contivpp.cni.spec import CNIHandler, CNIRequest, Result, check_container_id
from contivpp.errors import CNIRequestError

log = structlog.get_logger("contivpp.cni.grpc")


def _cni_args(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    return out


def request_from_proto(command: str, req: cni_pb2.CNIRequest) -> CNIRequest:
    args = _cni_args(req.extra_arguments)
    if not req.container_id:
        raise CNIRequestError(INVALID_NETWORK_CONFIG, f"{command} request without container_id")
    check_container_id(req.container_id)
    if command == "ADD" and not req.network_namespace:
        raise CNIRequestError(INVALID_ENVIRONMENT, "ADD request without network_namespace")
    return CNIRequest(
        command=command,
        container_id=req.container_id,
        netns=req.network_namespace,
        ifname=req.interface_name or "eth0",
        pod_namespace=args.get("K8S_POD_NAMESPACE", ""),
        pod_name=args.get("K8S_POD_NAME", ""),
        cni_version=req.version or "0.3.1",
    )


def reply_from_result(result: Result) -> cni_pb2.CNIReply:
    reply = cni_pb2.CNIReply(result=0)
    ips = result.get("ips", [])
    for index, iface in enumerate(result.get("interfaces", [])):
        proto_if = reply.interfaces.add(
            name=iface.get("name", ""), mac=iface.get("mac", ""), sandbox=iface.get("sandbox", "")
        )
        for ip in ips:
            if ip.get("interface") == index:
                proto_if.ip_addresses.add(
                    version=cni_pb2.CNIReply.Interface.IP.IPV4,
                    address=ip.get("address", ""),
                    gateway=ip.get("gateway", ""),
                )
    for route in result.get("routes", []):
        reply.routes.add(dst=route.get("dst", ""), gw=route.get("gw", ""))
    return reply


class RemoteCNIServicer(cni_pb2_grpc.RemoteCNIServicer):
    def __init__(self, handler: CNIHandler) -> None:
        self.handler = handler

    async def _call(self, command: str, request: cni_pb2.CNIRequest) -> cni_pb2.CNIReply:
        # ``result`` carries the CNI spec's error code (any non-zero is a failure to Contiv's
        # client), so both front doors report the same code for the same mistake.
        try:
            result = await self.handler.handle(request_from_proto(command, request))
        except CNIRequestError as exc:
            log.warning("cni_grpc_request_failed", command=command, code=exc.code, error=str(exc))
            return cni_pb2.CNIReply(result=exc.code, error=str(exc))
        except Exception as exc:  # the server must keep serving other pods
            log.exception("cni_grpc_request_crashed", command=command, error=str(exc))
            return cni_pb2.CNIReply(result=GENERIC_FAILURE, error=f"internal error: {exc}")
        return reply_from_result(result)

    async def Add(self, request: cni_pb2.CNIRequest, context: object) -> cni_pb2.CNIReply:
        return await self._call("ADD", request)

    async def Delete(self, request: cni_pb2.CNIRequest, context: object) -> cni_pb2.CNIReply:
        return await self._call("DEL", request)


class GrpcCNIServer:
    """The RemoteCNI server and its socket, which :meth:`stop` removes."""

    def __init__(self, server: grpc.aio.Server, path: Path, inode: int) -> None:
        self.server = server
        self.path = path
        self._inode = inode

    async def stop(self, grace: float | None) -> None:
        try:
            await self.server.stop(grace)
        finally:
            private.remove(self.path, self._inode)


async def start_grpc(path: Path, handler: CNIHandler) -> GrpcCNIServer:
    """Start serving RemoteCNI on a unix socket (0600); the caller stops the returned server.

    Requests are limited to the relay socket's size (``relay.MAX_REQUEST``), so both front
    doors accept the same requests.
    """
    private.prepare(path)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", relay.MAX_REQUEST)])
    cni_pb2_grpc.add_RemoteCNIServicer_to_server(  # type: ignore[no-untyped-call]
        RemoteCNIServicer(handler), server
    )
    with private.private_umask():  # gRPC binds here, in the calling thread
        server.add_insecure_port(f"unix://{path}")
        await server.start()
    inode = private.seal(path)
    log.info("cni_grpc_listening", socket=str(path))
    return GrpcCNIServer(server, path, inode)
