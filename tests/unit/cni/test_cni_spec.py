"""The CNI spec side of the agent (``cni/spec.py`` + ``PodCNIHandler``), without sockets.

Expected codes and messages come from the CNI spec (SPEC.md, "Error codes") and from the
reference ``skel`` / ``utils.ValidateContainerID``; every error path pins its code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from contivpp.cni import spec
from contivpp.cni.server import PodCNIHandler
from contivpp.cni.spec import CNIRequest, Result
from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events.bus import EventBus
from contivpp.events.state import initial_state
from contivpp.events.types import NodeIDAllocated


class Recorder:
    """A handler that remembers what reached it and answers a fixed ADD result."""

    def __init__(self) -> None:
        self.requests: list[CNIRequest] = []

    async def handle(self, request: CNIRequest) -> Result:
        self.requests.append(request)
        return {"interfaces": [], "ips": [], "routes": [], "dns": {}}


def conf(version: str = "1.0.0", **extra: object) -> bytes:
    return json.dumps(
        {"cniVersion": version, "name": "net", "type": "contivpp-cni", **extra}
    ).encode()


def env(command: str, netns: str, **over: str) -> dict[str, str]:
    out = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
    }
    out.update(over)
    return {k: v for k, v in out.items() if v != "-"}


async def run(env_: dict[str, str], stdin: bytes) -> tuple[int, dict[str, Any], Recorder]:
    handler = Recorder()
    code, out = await spec.execute(env_, stdin, handler)
    return code, (json.loads(out) if out else {}), handler


async def test_error_is_answered_in_the_requests_version(tmp_path: Path) -> None:
    code, out, handler = await run(env("ADD", "-"), conf("0.3.1"))
    assert code == 1 and not handler.requests
    assert out == {
        "cniVersion": "0.3.1",
        "code": 4,
        "msg": "required env variables [CNI_NETNS] missing",
    }


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1"])
async def test_check_below_0_4_0_is_incompatible(tmp_path: Path, version: str) -> None:
    code, out, handler = await run(env("CHECK", str(tmp_path)), conf(version, prevResult={}))
    assert code == 1 and not handler.requests
    assert out["code"] == 1 and out["msg"] == "config version does not allow CHECK"
    assert out["cniVersion"] == version


@pytest.mark.parametrize(
    ("cid", "code", "msg"),
    [
        ("x/../y", 4, "invalid characters in containerID"),
        ("-leading-dash", 4, "invalid characters in containerID"),
        ("a b", 4, "invalid characters in containerID"),
        ("ok\n", 4, "invalid characters in containerID"),
        ("é1", 4, "invalid characters in containerID"),
    ],
)
@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
async def test_container_id_is_validated(
    tmp_path: Path, command: str, cid: str, code: int, msg: str
) -> None:
    code_, out, handler = await run(
        env(command, str(tmp_path), CNI_CONTAINERID=cid), conf(prevResult={})
    )
    assert code_ == 1 and not handler.requests
    assert (out["code"], out["msg"], out["details"]) == (code, msg, cid)


async def test_valid_container_ids_pass(tmp_path: Path) -> None:
    for cid in ("a", "A1_b.c-d", "0" * 64):
        code, out, handler = await run(env("ADD", str(tmp_path), CNI_CONTAINERID=cid), conf())
        assert code == 0, out
        assert handler.requests[0].container_id == cid


@pytest.mark.parametrize(
    ("version", "code", "msg"),
    [
        ("1.0.0", 1, "config version does not allow GC"),
        ("0.4.0", 1, "config version does not allow GC"),
    ],
)
async def test_gc_needs_1_1_0(version: str, code: int, msg: str) -> None:
    code_, out, handler = await run(
        {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"}, conf(version)
    )
    assert (code_, out["code"], out["msg"]) == (1, code, msg) and not handler.requests


@pytest.mark.parametrize(
    "attachments",
    [
        "not a list",
        [{"containerID": 5, "ifname": "eth0"}],
        [{"ifname": "eth0"}],
        ["c1"],
    ],
)
async def test_gc_rejects_malformed_valid_attachments(attachments: object) -> None:
    code, out, handler = await run(
        {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"},
        conf("1.1.0", **{"cni.dev/valid-attachments": attachments}),
    )
    assert code == 1 and out["code"] == 7 and "cni.dev/valid-attachments" in out["msg"]
    assert not handler.requests


async def test_gc_without_a_list_is_refused_rather_than_unwiring_everything() -> None:
    code, out, handler = await run({"CNI_COMMAND": "GC", "CNI_PATH": "/x"}, conf("1.1.0"))
    assert (code, out) == (1, {
        "cniVersion": "1.1.0", "code": 7,
        "msg": "GC needs the network config field 'cni.dev/valid-attachments'",
    })  # fmt: skip
    assert not handler.requests
    legacy = conf("1.1.0", **{"cni.dev/attachments": [{"containerID": "c", "ifname": "e"}]})
    code, out, handler = await run({"CNI_COMMAND": "GC", "CNI_PATH": "/x"}, legacy)
    assert code == 0 and handler.requests[0].valid_attachments == frozenset({("c", "e")})


async def test_gc_request_carries_the_valid_attachments() -> None:
    valid = [{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}]
    code, out, handler = await run(
        {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"},
        conf("1.1.0", **{"cni.dev/valid-attachments": valid}),
    )
    assert (code, out) == (0, {})
    assert handler.requests[0].command == "GC"
    assert handler.requests[0].valid_attachments == frozenset({("c1", "eth0"), ("c2", "net1")})


@attrs.define
class Node:
    controller: Controller
    handler: PodCNIHandler
    netns: Path


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    controller = Controller(initial_state(AgentConfig("node-1")))
    bus = EventBus()
    handler = PodCNIHandler(bus.publish, lambda: controller.state.local_pods, timeout=5)
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(bus.run(controller.handle))
        await bus.publish(NodeIDAllocated("node-1", 1))
        yield Node(controller, handler, tmp_path)
        consumer.cancel()


async def test_gc_removes_attachments_not_listed(node: Node) -> None:
    for cid, name in (("c1", "a"), ("c2", "b"), ("c3", "c")):
        code, out = await spec.execute(
            env("ADD", str(node.netns), CNI_CONTAINERID=cid,
                CNI_ARGS=f"K8S_POD_NAMESPACE=default;K8S_POD_NAME={name}"),
            conf("1.1.0"),
            node.handler,
        )  # fmt: skip
        assert code == 0, out
    valid = [{"containerID": "c2", "ifname": "eth0"}, {"containerID": "c3", "ifname": "net9"}]
    code, out = await spec.execute(
        {"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"},
        conf("1.1.0", **{"cni.dev/valid-attachments": valid}),
        node.handler,
    )
    assert (code, out) == (0, "")
    # c1 is not listed at all, c3 only with another interface: both go; c2 stays.
    assert sorted(node.controller.state.local_pods) == [("default", "b")]


@pytest.mark.parametrize(
    ("timeout", "msg"),
    [
        (-5, "network config field 'timeoutSeconds' must be > 0 and <= 86400"),
        (0, "network config field 'timeoutSeconds' must be > 0 and <= 86400"),
        (9223372037.0, "network config field 'timeoutSeconds' must be > 0 and <= 86400"),
        (True, "network config field 'timeoutSeconds' has a wrong type"),
        ("5", "network config field 'timeoutSeconds' has a wrong type"),
    ],
)
async def test_timeout_seconds_is_range_checked(tmp_path: Path, timeout: object, msg: str) -> None:
    code, out, handler = await run(env("ADD", str(tmp_path)), conf("0.4.0", timeoutSeconds=timeout))
    assert (code, out) == (1, {"cniVersion": "0.4.0", "code": 7, "msg": msg})
    assert not handler.requests


def test_the_plugin_refuses_a_timeout_it_cannot_use() -> None:
    from contivpp.cni import plugin

    stdin = (
        b'{"cniVersion": "1.0.0", "agentSocket": "/nonexistent/s", "timeoutSeconds": 9223372037.0}'
    )
    code, out, _ = plugin.run({"CNI_COMMAND": "ADD"}, stdin)
    assert code == 1
    assert json.loads(out) == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "network config field 'timeoutSeconds' must be > 0 and <= 86400",
    }
