"""``contivpp replay``: feed a recorded event log through the agent's own loop and renderers.

Used to debug a node after the fact: the same log always yields the same state and the same
desired configuration, so a problem seen in a cluster can be reproduced on a laptop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import attrs

from contivpp.controller import Controller, Rejection
from contivpp.events.bus import EventBus
from contivpp.events.log import LoadedLog
from contivpp.events.state import ClusterState, initial_state
from contivpp.renderers import DesiredSet, render


@attrs.frozen
class ReplayResult:
    node: str
    events: int
    state: ClusterState
    desired: DesiredSet
    rejections: tuple[Rejection, ...]


async def replay(loaded: LoadedLog, *, until: int | None = None) -> ReplayResult:
    controller = Controller(initial_state(loaded.header.config))
    bus = EventBus()
    count = 0
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(bus.run(controller.handle), name="replay-consumer")
        for record in loaded.records:
            if until is not None and record.seq > until:
                break
            await bus.publish(record.event, seq=record.seq)
            count += 1
        await bus.join()
        consumer.cancel()
    return ReplayResult(
        node=loaded.header.node,
        events=count,
        state=controller.state,
        desired=render(controller.state),
        rejections=tuple(controller.rejections),
    )


def value_json(value: object) -> object:
    """A value of the desired set as plain JSON, tagged with its type name."""
    if attrs.has(type(value)):
        return {"type": type(value).__name__, **attrs.asdict(value, recurse=True)}  # type: ignore[arg-type]
    return value


def result_json(result: ReplayResult) -> dict[str, object]:
    state = result.state
    pods = [
        {"namespace": p.namespace, "name": p.name, "container_id": p.container_id, "ip": p.ip}
        for _, p in sorted(state.local_pods.items())
    ]
    return {
        "node": result.node,
        "node_id": state.node_id,
        "events": result.events,
        "pods": pods,
        "desired": {key: value_json(v) for key, v in result.desired.items()},
        "rejected": [attrs.asdict(r) for r in result.rejections],
    }


def dumps(data: Mapping[str, object]) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)


def render_text(result: ReplayResult) -> str:
    lines = [f"node {result.node} (ID {result.state.node_id}), {result.events} events replayed", ""]
    lines.append(f"{'POD':<40} {'CONTAINER':<16} IP")
    for _, pod in sorted(result.state.local_pods.items()):
        lines.append(
            f"{pod.namespace + '/' + pod.name:<40} {pod.container_id[:16]:<16} {pod.ip or '-'}"
        )
    lines.append("")
    lines.append(f"desired configuration ({len(result.desired)} values):")
    for key, value in result.desired.items():
        lines.append(f"  {key} = {json.dumps(value_json(value), sort_keys=True)}")
    if result.rejections:
        lines.append("")
        lines.append("rejected events:")
        lines.extend(f"  seq {r.seq} {r.event}: {r.error}" for r in result.rejections)
    return "\n".join(lines)
