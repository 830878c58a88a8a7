"""The real ``contivpp-cni`` executable, run as kubelet runs it, against the agent's CNI server.

The server side is the agent's own pieces (event bus, controller, fold) with no VPP sink, so
these tests check the CNI contract and the request path; the dataplane wiring is covered with
the agent's integration tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest

from contivpp.cni import relay
from contivpp.cni.server import PodCNIHandler, serve_relay
from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events.bus import EventBus
from contivpp.events.state import initial_state
from contivpp.events.types import NodeIDAllocated

PLUGIN = shutil.which("contivpp-cni", path=str(Path(sys.executable).parent)) or "contivpp-cni"


@attrs.define
class Agent:
    socket: Path
    controller: Controller
    netns: Path


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    controller = Controller(initial_state(AgentConfig("node-1")))
    bus = EventBus()
    handler = PodCNIHandler(bus.publish, lambda: controller.state.local_pods, timeout=5)
    socket = tmp_path / "cni.sock"
    started = asyncio.Event()
    netns = tmp_path / "netns-file"  # any existing path stands for a netns here
    netns.write_text("")
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(bus.run(controller.handle))
        server = tg.create_task(serve_relay(socket, handler, started))
        await started.wait()
        await bus.publish(NodeIDAllocated("node-1", 1))
        yield Agent(socket, controller, netns)
        consumer.cancel()
        server.cancel()


def config(socket: Path, version: str = "1.0.0", **extra: object) -> bytes:
    conf = {"cniVersion": version, "name": "k8s-pod-network", "type": "contivpp-cni"}
    conf["agentSocket"] = str(socket)
    conf.update(extra)
    return json.dumps(conf).encode()


async def cni(command: str, stdin: bytes, **env: str) -> tuple[int, str, str]:
    full_env = {"PATH": os.environ["PATH"], "CNI_COMMAND": command, **env}
    proc = await asyncio.create_subprocess_exec(
        PLUGIN,
        env=full_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def pod_env(agent: Agent, name: str, cid: str) -> dict[str, str]:
    return {
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": str(agent.netns),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={name}",
    }


async def test_add_check_del_in_the_spec_shape(agent: Agent) -> None:
    env = pod_env(agent, "web-0", "c1")
    code, out, err = await cni("ADD", config(agent.socket), **env)
    assert code == 0, out + err
    result = json.loads(out)
    assert not out.endswith("\n")
    assert result["cniVersion"] == "1.0.0"
    assert result["interfaces"][0]["name"] == "eth0"
    assert result["interfaces"][0]["sandbox"] == str(agent.netns)
    assert result["interfaces"][0]["mac"].startswith("02:fe:")
    assert result["ips"] == [{"address": "10.1.1.2/32", "gateway": "10.1.1.1", "interface": 0}]
    assert result["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.1.1"}]

    code, out, _ = await cni("CHECK", config(agent.socket, prevResult=result), **env)
    assert (code, out) == (0, "")

    code, out, _ = await cni("DEL", config(agent.socket), **env)
    assert (code, out) == (0, "")
    assert not agent.controller.state.local_pods
    code, out, _ = await cni("DEL", config(agent.socket), **env)  # idempotent
    assert (code, out) == (0, "")
    code, out, _ = await cni("CHECK", config(agent.socket, prevResult=result), **env)
    error = json.loads(out)
    assert (code, error["code"]) == (1, 999) and "not wired" in error["msg"]


async def test_old_versions_get_ip_version_fields(agent: Agent) -> None:
    code, out, _ = await cni("ADD", config(agent.socket, "0.4.0"), **pod_env(agent, "a", "c2"))
    assert code == 0
    result = json.loads(out)
    assert result["cniVersion"] == "0.4.0" and result["ips"][0]["version"] == "4"


async def test_del_without_netns_or_pod_args_still_succeeds(agent: Agent) -> None:
    env = pod_env(agent, "gone", "c3")
    assert (await cni("ADD", config(agent.socket), **env))[0] == 0
    env.pop("CNI_NETNS")
    env["CNI_ARGS"] = ""
    code, out, _ = await cni("DEL", config(agent.socket), **env)
    assert (code, out) == (0, "")
    assert not agent.controller.state.local_pods


async def test_version_and_about() -> None:
    code, out, _ = await cni("VERSION", b"")
    assert code == 0 and out.endswith("\n")
    assert "1.0.0" in json.loads(out)["supportedVersions"]
    proc = await asyncio.create_subprocess_exec(
        PLUGIN, env={"PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0 and stdout == b"" and b"CNI protocol versions" in stderr


@pytest.mark.parametrize(
    ("command", "stdin", "drop_env", "code", "msg"),
    [
        ("ADD", b"{not json", None, 6, "error unmarshall network config"),
        ("ADD", None, "CNI_NETNS", 4, "required env variables [CNI_NETNS] missing"),
        ("ADD", None, "CNI_CONTAINERID", 4, "required env variables [CNI_CONTAINERID] missing"),
        ("FOO", None, None, 4, "unknown CNI_COMMAND: FOO"),
        ("ADD", "9.9.9", None, 1, "incompatible CNI versions"),
        ("CHECK", None, None, 7, "Required prevResult missing"),
    ],
)
async def test_malformed_requests_get_spec_errors(
    agent: Agent, command: str, stdin: bytes | str | None, drop_env: str | None, code: int, msg: str
) -> None:
    env = pod_env(agent, "p", "c4")
    if drop_env:
        env.pop(drop_env)
    if stdin is None:
        body = config(agent.socket)
    elif isinstance(stdin, str):
        body = config(agent.socket, stdin)
    else:
        body = stdin
    status, out, _ = await cni(command, body, **env)
    assert status == 1
    error = json.loads(out)
    assert error["code"] == code and msg in error["msg"]
    # the agent keeps serving
    ok, _, _ = await cni("ADD", config(agent.socket), **pod_env(agent, "after", "c5"))
    assert ok == 0


async def test_missing_netns_path(agent: Agent) -> None:
    env = pod_env(agent, "p", "c6")
    env["CNI_NETNS"] = "/var/run/netns/does-not-exist"
    status, out, _ = await cni("ADD", config(agent.socket), **env)
    error = json.loads(out)
    assert (status, error["code"]) == (1, 999) and "failed to open netns" in error["msg"]
    assert not agent.controller.state.local_pods


async def test_agent_down_means_try_again_later(tmp_path: Path) -> None:
    netns = tmp_path / "ns"
    netns.write_text("")
    env = {
        "CNI_CONTAINERID": "c",
        "CNI_NETNS": str(netns),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "K8S_POD_NAMESPACE=d;K8S_POD_NAME=p",
    }
    status, out, _ = await cni("ADD", config(tmp_path / "nobody.sock"), **env)
    assert status == 1
    assert json.loads(out)["code"] == 11
    status, out, _ = await cni("STATUS", config(tmp_path / "nobody.sock", "1.1.0"), **env)
    assert (status, json.loads(out)["code"]) == (1, 50)


async def test_socket_is_private(agent: Agent) -> None:
    assert agent.socket.stat().st_mode & 0o777 == 0o600


async def test_garbage_on_the_socket_gets_an_error_and_server_survives(agent: Agent) -> None:
    reader, writer = await asyncio.open_unix_connection(str(agent.socket))
    writer.write(b"this is not a relay request\n")
    writer.write_eof()
    code, out = relay.decode_reply(await reader.read())
    writer.close()
    assert code == 1 and json.loads(out)["code"] == 6
    status, _, _ = await cni("ADD", config(agent.socket), **pod_env(agent, "still", "c7"))
    assert status == 0


def test_relay_framing_round_trips_and_rejects_truncation() -> None:
    fields = {"CNI_COMMAND": b"ADD", "CNI_ARGS": b"A=1;B=2", "stdin": b'{"x": "\\n"}\n\xc3\xa9'}
    data = relay.encode_request(fields)
    assert relay.decode_request(data) == fields and relay.request_complete(data)
    assert not relay.request_complete(data[:-3])
    with pytest.raises(relay.RelayError, match="truncated"):
        relay.decode_request(data[:-3])
    assert (
        relay.config_string(b'{"cniVersion" : "0.4.0", "agentSocket":"/a/b"}', "agentSocket")
        == "/a/b"
    )
    assert relay.config_string(b'{"agentSocket": 5}', "agentSocket") == ""
    assert relay.config_number(b'{"timeoutSeconds": 2.5, "x": 1}', "timeoutSeconds") == 2.5
    assert relay.config_number(b'{"timeoutSeconds": "2"}', "timeoutSeconds") is None


async def test_a_silent_agent_times_out_after_timeout_seconds(tmp_path: Path) -> None:
    netns = tmp_path / "ns"
    netns.write_text("")
    silent = tmp_path / "silent.sock"
    held: list[asyncio.StreamWriter] = []  # accepted, never answered

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_unix_server(accept, path=str(silent))
    env = {
        "CNI_CONTAINERID": "c",
        "CNI_NETNS": str(netns),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "K8S_POD_NAMESPACE=d;K8S_POD_NAME=p",
    }
    started = asyncio.get_running_loop().time()
    status, out, _ = await cni("ADD", config(silent, timeoutSeconds=0.5), **env)
    elapsed = asyncio.get_running_loop().time() - started
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()
    assert status == 1 and json.loads(out)["code"] == 11
    assert elapsed < 5


async def test_oversized_stdin_is_an_invalid_network_config(agent: Agent) -> None:
    env = pod_env(agent, "big", "c8")
    big = config(agent.socket, "0.4.0", padding="x" * (10 << 20))
    for command in ("ADD", "DEL"):
        status, out, err = await cni(command, big, **env)
        error = json.loads(out)
        assert (status, error["code"], error["cniVersion"]) == (1, 7, "0.4.0"), out + err
        assert "the limit is 1048576 bytes" in error["msg"]
    assert not agent.controller.state.local_pods
    status, _, _ = await cni("ADD", config(agent.socket), **pod_env(agent, "small", "c9"))
    assert status == 0


async def test_oversized_request_on_the_socket_is_read_and_refused(agent: Agent) -> None:
    """A sender that writes everything before reading gets an answer, not a broken pipe."""
    fields = {"CNI_COMMAND": b"ADD", "stdin": b'{"cniVersion": "0.3.1", "p": "' + b"y" * (3 << 20)}
    reader, writer = await asyncio.open_unix_connection(str(agent.socket))
    writer.write(relay.encode_request(fields))
    await writer.drain()
    writer.write_eof()
    code, out = relay.decode_reply(await reader.read())
    writer.close()
    error = json.loads(out)
    assert (code, error["code"], error["cniVersion"]) == (1, 7, "0.3.1")
    assert "limit is 1048576 bytes" in error["msg"]


async def test_socket_is_private_under_a_zero_umask_and_removed_on_stop(tmp_path: Path) -> None:
    handler = PodCNIHandler(EventBus().publish, dict, timeout=1)
    path = tmp_path / "run" / "cni.sock"
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file left by a killed agent
    stale.close()
    old = os.umask(0)
    try:
        started = asyncio.Event()
        server = asyncio.create_task(serve_relay(path, handler, started))
        await asyncio.wait_for(started.wait(), 5)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    status, out, _ = await cni("STATUS", config(path, "1.1.0"))
    assert (status, out) == (0, "")
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server
    assert not path.exists(), "the socket is removed when the server stops"


async def test_a_newer_agents_socket_is_not_removed(tmp_path: Path) -> None:
    handler = PodCNIHandler(EventBus().publish, dict, timeout=1)
    path = tmp_path / "cni.sock"
    started = asyncio.Event()
    first = asyncio.create_task(serve_relay(path, handler, started))
    await started.wait()
    started = asyncio.Event()
    second = asyncio.create_task(serve_relay(path, handler, started))  # replaces the socket
    await started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert path.is_socket(), "the old server must not remove the new server's socket"
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert not path.exists()


async def test_a_malformed_agent_reply_is_a_generic_failure(tmp_path: Path) -> None:
    async def babble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        writer.write(b"not a reply")
        await writer.drain()
        writer.close()

    path = tmp_path / "babble.sock"
    server = await asyncio.start_unix_server(babble, path=str(path))
    try:
        status, out, _ = await cni("DEL", config(path, "0.4.0"), CNI_CONTAINERID="c",
                                   CNI_IFNAME="eth0", CNI_PATH="/x")  # fmt: skip
    finally:
        server.close()
        await server.wait_closed()
    error = json.loads(out)
    assert (status, error["code"], error["cniVersion"]) == (1, 999, "0.4.0")
    assert error["msg"] == "malformed reply from the agent"
