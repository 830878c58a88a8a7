"""Hypothesis through both transports into a live CNI server: the relay socket the plugin
uses and Contiv's gRPC RemoteCNI. Every request gets a result or a spec error code, the
server keeps serving, and a refused request leaves the pods as they were.

The servers run on the test's event loop; hypothesis drives blocking clients from a worker
thread, so one server serves every example (fast, and it must survive them all)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contivpp.cni import plugin, relay
from contivpp.cni.grpc_server import start_grpc
from contivpp.cni.proto import cni_pb2, cni_pb2_grpc
from contivpp.cni.server import PodCNIHandler, serve_relay
from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events.bus import EventBus
from contivpp.events.state import initial_state
from contivpp.events.types import NodeIDAllocated

SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 999}
NETNS = "/proc/self/ns/net"
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=16)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@attrs.define
class Server:
    controller: Controller
    relay_socket: Path
    grpc_socket: Path


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    controller = Controller(initial_state(AgentConfig("node-1")))
    bus = EventBus()
    handler = PodCNIHandler(bus.publish, lambda: controller.state.local_pods, timeout=5)
    started = asyncio.Event()
    consumer = asyncio.create_task(bus.run(controller.handle))
    relay_task = asyncio.create_task(serve_relay(tmp_path / "cni.sock", handler, started))
    await started.wait()
    grpc_server = await start_grpc(tmp_path / "grpc.sock", handler)
    await bus.publish(NodeIDAllocated("node-1", 1))
    yield Server(controller, tmp_path / "cni.sock", tmp_path / "grpc.sock")
    await grpc_server.stop(None)
    relay_task.cancel()
    consumer.cancel()


def unchanged_on_error(server: Server, call: Callable[[], bool]) -> None:
    before = server.controller.state.local_pods
    if not call():
        assert server.controller.state.local_pods == before, "a refused request changed pods"


async def test_relay_socket_fuzz(server: Server) -> None:
    @FUZZ
    @given(
        command=st.sampled_from(["ADD", "DEL", "CHECK", "STATUS", "GC"]) | texts,
        cid=st.sampled_from(["c1", "c2"]) | texts,
        netns=st.sampled_from([NETNS, ""]) | texts,
        args=st.sampled_from(["K8S_POD_NAMESPACE=d;K8S_POD_NAME=p", ""]) | texts,
        version=st.sampled_from(["0.3.1", "0.4.0", "1.0.0", "1.1.0"]) | texts,
        extra=st.dictionaries(texts, texts | st.integers(), max_size=3),
    )
    def example(
        command: str, cid: str, netns: str, args: str, version: str, extra: dict[str, object]
    ) -> None:
        stdin = json.dumps({**extra, "cniVersion": version, "name": "n"}).encode()
        fields = {"CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
                  "CNI_IFNAME": "eth0", "CNI_PATH": "/x", "CNI_ARGS": args}  # fmt: skip
        request = relay.encode_request(
            {**{k: v.encode() for k, v in fields.items()}, "stdin": stdin}
        )

        def call() -> bool:
            code, out = relay.decode_reply(plugin.call_agent(str(server.relay_socket), request, 10))
            if code == 0:
                if command == "ADD":
                    result = json.loads(out)
                    assert result["cniVersion"] == version
                    assert result["ips"][0]["address"].startswith("10.1.1.")
                return True
            error = json.loads(out)
            assert code == 1 and error["code"] in SPEC_CODES and error["msg"], error
            # The caller's version when it has one; an empty one cannot be echoed usefully.
            assert error["cniVersion"] == (version or "1.0.0"), "answered in the caller's version"
            return False

        unchanged_on_error(server, call)

    await asyncio.to_thread(example)


async def test_grpc_fuzz(server: Server) -> None:
    channel = grpc.insecure_channel(f"unix://{server.grpc_socket}")  # blocking client
    stub = cni_pb2_grpc.RemoteCNIStub(channel)

    @FUZZ
    @given(
        delete=st.booleans(),
        version=texts,
        cid=st.sampled_from(["c1", "c2"]) | texts,
        netns=st.sampled_from([NETNS, ""]) | texts,
        ifname=st.sampled_from(["eth0", ""]) | texts,
        args=st.sampled_from(["K8S_POD_NAMESPACE=d;K8S_POD_NAME=p", ""]) | texts,
    )
    def example(delete: bool, version: str, cid: str, netns: str, ifname: str, args: str) -> None:
        request = cni_pb2.CNIRequest(version=version, container_id=cid, network_namespace=netns,
                                     interface_name=ifname, extra_arguments=args)  # fmt: skip

        def call() -> bool:
            reply = (stub.Delete if delete else stub.Add)(request, timeout=10)
            if reply.result == 0:
                if not delete:
                    assert reply.interfaces[0].ip_addresses[0].address.startswith("10.1.1.")
                return True
            assert reply.result in SPEC_CODES and reply.error, reply
            return False

        unchanged_on_error(server, call)

    try:
        await asyncio.to_thread(example)
    finally:
        channel.close()
