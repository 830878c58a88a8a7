"""What an agent restart must remember (issue 14, defects 3 and 11), with the real agent.

- The event log of the run before the restart is kept (rotated), seqs keep growing across
  the kept files, and the files are private.
- A pod created after a restart does not get an address released just before it.
"""

from __future__ import annotations

import stat

from agent_harness import Node, Pod

from contivpp.events.log import read_log
from contivpp.events.types import CNIAdd


async def add_pod(node: Node, pods: list[Pod], name: str) -> str:
    pod = Pod(node, name)
    pods.append(pod)
    pod.create_netns()
    code, result = await pod.cni("ADD")
    assert code == 0, result
    return str(result["ips"][0]["address"])  # type: ignore[index]


async def test_a_restart_keeps_the_event_log_and_its_seqs_grow(node: Node, pods: list[Pod]) -> None:
    await node.start_agent()
    await add_pod(node, pods, "before")
    await node.stop_agent()
    await node.start_agent()
    await add_pod(node, pods, "after")
    await node.stop_agent()

    events = node.work / "events"
    assert sorted(p.name for p in events.iterdir()) == ["events.jsonl", "events.jsonl.1"]
    previous, current = read_log(events / "events.jsonl.1"), read_log(events / "events.jsonl")
    added = [
        r.event.pod_name
        for log in (previous, current)
        for r in log.records
        if isinstance(r.event, CNIAdd) and not r.event.ip
    ]
    assert added == ["before", "after"]
    seqs = [r.seq for log in (previous, current) for r in log.records]
    assert seqs == sorted(set(seqs)), "seqs restart or repeat across the kept files"
    for path in events.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE((node.work / "state" / "pods.json").stat().st_mode) == 0o600


async def test_an_address_released_before_a_restart_is_not_reused_after_it(
    node: Node, pods: list[Pod]
) -> None:
    await node.start_agent()
    assert await add_pod(node, pods, "a") == "10.1.1.2/32"
    assert await add_pod(node, pods, "b") == "10.1.1.3/32"
    assert await add_pod(node, pods, "c") == "10.1.1.4/32"
    code, _ = await pods[-1].cni("DEL")
    assert code == 0
    await node.stop_agent()

    await node.start_agent()
    # c's 10.1.1.4 was released moments ago: policies and connections keyed on it must not
    # reach a new pod (Contiv #573 / #641).
    assert await add_pod(node, pods, "d") == "10.1.1.5/32"
