"""Contiv's gRPC RemoteCNI API served by the agent, driven by a real grpc.aio client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from contivpp.cni.grpc_server import start_grpc
from contivpp.cni.proto import cni_pb2, cni_pb2_grpc
from contivpp.cni.server import PodCNIHandler
from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events.bus import EventBus
from contivpp.events.state import initial_state
from contivpp.events.types import NodeIDAllocated


async def test_remote_cni_add_and_delete(tmp_path: Path) -> None:
    controller = Controller(initial_state(AgentConfig("node-1")))
    bus = EventBus()
    handler = PodCNIHandler(bus.publish, lambda: controller.state.local_pods, timeout=5)
    consumer = asyncio.create_task(bus.run(controller.handle))
    await bus.publish(NodeIDAllocated("node-1", 7))
    socket = tmp_path / "grpc.sock"
    server = await start_grpc(socket, handler)
    try:
        async with grpc.aio.insecure_channel(f"unix://{socket}") as channel:
            stub = cni_pb2_grpc.RemoteCNIStub(channel)
            request = cni_pb2.CNIRequest(
                version="0.3.1",
                container_id="abc",
                network_namespace="/var/run/netns/x",
                interface_name="eth0",
                extra_arguments="K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1",
            )
            reply = await stub.Add(request)
            assert reply.result == 0, reply.error
            assert reply.interfaces[0].name == "eth0"
            assert reply.interfaces[0].ip_addresses[0].address == "10.1.7.2/32"
            assert reply.interfaces[0].ip_addresses[0].gateway == "10.1.7.1"
            assert reply.routes[0].dst == "0.0.0.0/0"

            bad = await stub.Add(cni_pb2.CNIRequest(container_id="x"))
            assert bad.result == 4 and "network_namespace" in bad.error
            bad = await stub.Add(cni_pb2.CNIRequest(network_namespace="/x"))
            assert bad.result == 7 and "without container_id" in bad.error
            bad = await stub.Add(
                cni_pb2.CNIRequest(container_id="x/../y", network_namespace="/var/run/netns/x")
            )
            assert bad.result == 4 and "invalid characters in containerID" in bad.error
            oversized = cni_pb2.CNIRequest(container_id="x", extra_arguments="a" * (2 << 20))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Add(oversized)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert len(controller.state.local_pods) == 1, "no bad request changed the state"

            reply = await stub.Delete(request)
            assert reply.result == 0
            assert not controller.state.local_pods
    finally:
        await server.stop(None)
        consumer.cancel()
