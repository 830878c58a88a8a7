"""Faults in the middle of work (issue 14): VPP killed during a transaction, the agent killed
during one, a pod's netns gone before DEL. Each ends with VPP equal to what it should be (the
state a fresh VPP gets from the agent's desired set: a VPP restart and downstream resync must
change nothing) and no address handed out twice."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from agent_harness import Node, Pod

TRY_AGAIN_LATER = 11


async def wait_until(check: object, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.1)


def new_pod(node: Node, pods: list[Pod], name: str) -> Pod:
    """A pod with its netns, removed by the ``pods`` fixture."""
    pod = Pod(node, name)
    pods.append(pod)
    pod.create_netns()
    return pod


def downstream_resyncs(node: Node) -> int:
    assert node.agent is not None
    return len([r for r in node.agent.scheduler.history if r.kind.value == "downstream-resync"])


async def add_until_wired(pod: Pod, attempts: int = 40) -> dict[str, object]:
    """ADD as kubelet does: again after a failure (code 11: at once; else after a pause)."""
    for _ in range(attempts):
        status, result = await pod.cni("ADD")
        if status == 0:
            return result
        assert result.get("code") in (TRY_AGAIN_LATER, 999), result
        await asyncio.sleep(0.25)
    raise AssertionError(f"{pod.name} never wired")


async def assert_vpp_is_what_it_should_be(node: Node) -> None:
    """A restarted VPP, resynced from the agent's desired set, looks exactly the same."""
    before = await node.vpp_view()
    resyncs = downstream_resyncs(node)
    node.sim.restart()

    async def resynced() -> bool:
        return downstream_resyncs(node) > resyncs and await node.vpp_view() == before

    try:
        await wait_until(resynced, "VPP after a restart differs from VPP before it")
    except AssertionError:
        after = await node.vpp_view()
        diff = {
            k: (
                sorted(set(map(str, before[k])) - set(map(str, after[k]))),  # type: ignore[call-overload]
                sorted(set(map(str, after[k])) - set(map(str, before[k]))),
            )  # type: ignore[call-overload]
            for k in before
        }
        raise AssertionError(f"VPP before / after a restart differ: {diff}") from None
    tags = [name for name, _, _ in before["interfaces"]]  # type: ignore[attr-defined]
    assert len(tags) == len(set(tags)), "duplicate interfaces in VPP"


def assert_addresses_unique(node: Node, results: list[dict[str, object]]) -> None:
    addresses = [r["ips"][0]["address"] for r in results]  # type: ignore[index]
    assert len(addresses) == len(set(addresses)), addresses
    saved = json.loads((node.work / "state" / "pods.json").read_text())["pods"]
    ips = [p["ip"] for p in saved]
    assert len(ips) == len(set(ips)), ips


@pytest.mark.parametrize("after", [0.005, 0.03])
async def test_vpp_killed_during_an_add(node: Node, pods: list[Pod], after: float) -> None:
    await node.start_agent()
    first = new_pod(node, pods, "first")
    wired = [await add_until_wired(first)]
    victim = new_pod(node, pods, "victim")
    adding = asyncio.create_task(victim.cni("ADD"))
    await asyncio.sleep(after)  # the ADD is on its way, or its transaction under way
    assert node.sim.proc is not None
    node.sim.proc.send_signal(signal.SIGKILL)
    node.sim.proc.wait(10)
    node.sim.proc = None
    node.sim.log.close()
    node.sim.socket.unlink(missing_ok=True)
    status, answer = await adding
    assert node.agent is not None
    agent = node.agent
    resyncs = downstream_resyncs(node)
    node.sim.start()

    async def recovered() -> bool:
        return downstream_resyncs(node) > resyncs and not agent.status.not_ready()

    await wait_until(recovered, "the agent did not resync the restarted VPP")
    wired.append(answer if status == 0 else await add_until_wired(victim))
    await assert_vpp_is_what_it_should_be(node)
    assert_addresses_unique(node, wired)
    status, answer = await victim.cni("CHECK", {"prevResult": wired[-1]})
    assert status == 0, answer


async def test_agent_killed_during_an_add(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    first = new_pod(node, pods, "first")
    wired = [await add_until_wired(first)]
    victim = new_pod(node, pods, "victim")
    adding = asyncio.create_task(victim.cni("ADD"))
    await asyncio.sleep(0.05)
    await node.stop_agent()  # the agent dies wherever it was
    await adding  # whatever it answered: kubelet tries again
    await node.start_agent()
    wired.append(await add_until_wired(victim))
    late = new_pod(node, pods, "late")
    wired.append(await add_until_wired(late))
    await assert_vpp_is_what_it_should_be(node)
    assert_addresses_unique(node, wired)


async def test_a_pods_netns_gone_before_del(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    gone = new_pod(node, pods, "gone")
    result = await add_until_wired(gone)
    gone.delete_netns()
    status, answer = await gone.cni("DEL")
    assert status == 0, answer  # DEL must succeed, or kubelet retries it for good
    assert node.agent is not None
    assert ("default", "gone") not in node.agent.controller.state.local_pods
    view = await node.vpp_view()
    assert not [i for i in view["interfaces"] if "tap-" in i[0] and i[0] != "tap-vpp2"]  # type: ignore[attr-defined]
    # its address is free again, and nobody else holds it twice
    again = new_pod(node, pods, "again")
    await assert_vpp_is_what_it_should_be(node)
    assert_addresses_unique(node, [await add_until_wired(again)])
    assert result["ips"] != []  # type: ignore[index]
