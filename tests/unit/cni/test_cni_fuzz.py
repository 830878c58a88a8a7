"""Hypothesis at the CNI front end (environment + stdin, as the relay delivers them).

For any invocation the agent answers either the spec's result for the caller's version or the
spec's error object with a known code, never a traceback, and an error leaves the pods as they
were. The handler is the agent's own (bus, controller, fold) with no VPP behind it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contivpp.cni import relay, spec
from contivpp.cni.codes import SUPPORTED_VERSIONS
from contivpp.cni.server import PodCNIHandler, answer
from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events.bus import EventBus
from contivpp.events.state import initial_state
from contivpp.events.types import NodeIDAllocated

#: Every code the spec defines that the agent may answer (SPEC.md, "Error codes").
SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 999}
NETNS = "/proc/self/ns/net"  # any existing path stands for a netns here (no VPP behind)

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
commands = st.sampled_from(["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION", ""]) | texts
container_ids = st.sampled_from(["c1", "c2", "abc-DEF_1.2"]) | texts
netns_paths = st.sampled_from([NETNS, "/nonexistent/ns", ""]) | texts
cni_args = (
    st.sampled_from(
        ["K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1", "IgnoreUnknown=1;K8S_POD_NAME=x", ""]
    )
    | texts
)
versions = st.sampled_from([*SUPPORTED_VERSIONS, "0.2.0", "2.0.0", ""]) | texts | json_values


@st.composite
def configs(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=64))
    conf: dict[str, Any] = {"cniVersion": draw(versions), "name": "net", "type": "contivpp-cni"}
    for field in ("prevResult", "cni.dev/valid-attachments", "agentSocket", "timeoutSeconds"):
        if draw(st.booleans()):
            conf[field] = draw(json_values)
    return json.dumps(conf).encode()


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    env = {
        "CNI_COMMAND": draw(commands),
        "CNI_CONTAINERID": draw(container_ids),
        "CNI_NETNS": draw(netns_paths),
        "CNI_IFNAME": draw(st.sampled_from(["eth0", "", "net1"]) | texts),
        "CNI_PATH": draw(st.sampled_from(["/opt/cni/bin", ""])),
        "CNI_ARGS": draw(cni_args),
    }
    dropped = draw(st.sets(st.sampled_from(sorted(env))))
    return {k: v for k, v in env.items() if k not in dropped}


def check_answer(env: dict[str, str], stdin: bytes, code: int, out: str) -> bool:
    """Asserts the answer's shape; returns whether it was a success."""
    if code == 0:
        if env.get("CNI_COMMAND") != "ADD":
            assert out == ""
            return True
        result = json.loads(out)
        assert result["cniVersion"] == json.loads(stdin)["cniVersion"]
        assert result["ips"][0]["address"].startswith("10.1.1.")
        return True
    assert code == 1
    error = json.loads(out)
    assert error["code"] in SPEC_CODES, error
    assert isinstance(error["msg"], str) and error["msg"]
    assert isinstance(error["cniVersion"], str)
    try:
        asked = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError):
        asked = None
    if isinstance(asked, str) and asked:
        assert error["cniVersion"] == asked, "an error is answered in the caller's version"
    return False


async def scenario(env: dict[str, str], stdin: bytes, via_relay: bool) -> None:
    controller = Controller(initial_state(AgentConfig("node-1")))
    bus = EventBus()
    handler = PodCNIHandler(bus.publish, lambda: controller.state.local_pods, timeout=2)
    consumer = asyncio.create_task(bus.run(controller.handle))
    try:
        await bus.publish(NodeIDAllocated("node-1", 1))
        wired = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": NETNS,
                 "CNI_IFNAME": "eth0", "CNI_PATH": "/x",
                 "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1"}  # fmt: skip
        assert (await spec.execute(wired, b'{"cniVersion": "1.1.0"}', handler))[0] == 0
        before = controller.state.local_pods
        if via_relay:
            fields = {k: v.encode() for k, v in env.items()}
            reply = await answer(handler, relay.encode_request({**fields, "stdin": stdin}))
            code, raw = relay.decode_reply(reply)
            out = raw.decode()
        else:
            code, out = await spec.execute(env, stdin, handler)
        await bus.join()
        if not check_answer(env, stdin, code, out):
            assert controller.state.local_pods == before, "an error changed the pods"
    finally:
        consumer.cancel()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(environments(), configs(), st.booleans())
def test_any_invocation_gets_a_result_or_a_spec_error(
    env: dict[str, str], stdin: bytes, via_relay: bool
) -> None:
    asyncio.run(scenario(env, stdin, via_relay))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_on_the_relay_get_a_reply(data: bytes) -> None:
    reached: list[spec.CNIRequest] = []

    class Record:
        async def handle(self, request: spec.CNIRequest) -> spec.Result:
            reached.append(request)
            return {}

    async def run() -> None:
        code, out = relay.decode_reply(await answer(Record(), data))
        assert code == 1 and json.loads(out)["code"] in SPEC_CODES
        assert not reached, "garbage reached the handler"

    asyncio.run(run())
