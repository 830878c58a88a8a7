"""``contivpp replay``: feed a recorded event log through the agent's own loop and renderers.

Used to debug a node after the fact: the same log always yields the same state and the same
desired configuration, so a problem seen in a cluster can be reproduced on a laptop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import attrs

from contivpp.controller import Controller, DesiredSink, ReconcilerSink, Rejection
from contivpp.events.bus import EventBus
from contivpp.events.log import LoadedLog
from contivpp.events.state import ClusterState, initial_state
from contivpp.renderers import DesiredSet, render


@attrs.frozen
class Programmed:
    """What a replay into a VPP left there, once the reconciler settled."""

    socket: str
    values: int
    configured: int
    calls: int
    transactions: int
    settled: bool
    not_configured: tuple[tuple[str, str, str], ...]  # (key, state, error or missing deps)

    @property
    def converged(self) -> bool:
        return self.settled and not self.not_configured


@attrs.frozen
class ReplayResult:
    node: str
    events: int
    state: ClusterState
    desired: DesiredSet
    rejections: tuple[Rejection, ...]
    programmed: Programmed | None = None


async def replay(
    loaded: LoadedLog, *, until: int | None = None, sink: DesiredSink | None = None
) -> ReplayResult:
    controller = Controller(initial_state(loaded.header.config), sink=sink)
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


VPP_PREFIX = "vpp/"


async def replay_into_vpp(
    loaded: LoadedLog, socket_path: str, *, until: int | None = None, settle_timeout: float = 30.0
) -> ReplayResult:
    """Replay and program the VPP at ``socket_path`` event by event through the reconciler.

    Only ``vpp/`` keys are programmed: the pods' network namespaces of the recorded node do
    not exist where a log is replayed. The VPP is first converged to the empty state (like
    an agent starting from scratch), so the calls that follow are exactly the log's.
    """
    from contivpp.reconcile import ResyncKind, Scheduler, ValueState
    from contivpp.vpp.client import VPPClient
    from contivpp.vpp.descriptors import vpp_descriptors
    from contivpp.vpp.nat_sessions import delete_sessions_towards

    async with VPPClient(socket_path, name="contivpp-replay") as client:
        scheduler = Scheduler(vpp_descriptors(client))
        async with asyncio.TaskGroup() as tg:
            retries = tg.create_task(scheduler.run(), name="reconciler-retries")
            await scheduler.resync(ResyncKind.FULL, desired={}, trigger="replay start")
            sink = ReconcilerSink(
                scheduler,
                prefixes=(VPP_PREFIX,),
                sessions=lambda b: delete_sessions_towards(
                    client, b.ip, b.port, b.protocol, vrf=b.vrf
                ),
            )
            result = await replay(loaded, until=until, sink=sink)
            settled = await scheduler.settle(settle_timeout)
            retries.cancel()
        statuses = scheduler.statuses(VPP_PREFIX)
        wanted = [k for k in result.desired if k.startswith(VPP_PREFIX)]
        bad = []
        for key in wanted:
            status = statuses.get(key)
            state = status.state if status is not None else ValueState.NONEXISTENT
            if state is not ValueState.CONFIGURED:
                detail = ""
                if status is not None:
                    detail = str(status.error) if status.error else ", ".join(status.missing)
                bad.append((str(key), state.value, detail))
        history = scheduler.history
        programmed = Programmed(
            socket=socket_path,
            values=len(wanted),
            configured=len(wanted) - len(bad),
            calls=sum(r.calls for r in history),
            transactions=len(history),
            settled=settled,
            not_configured=tuple(bad),
        )
    return attrs.evolve(result, programmed=programmed)


#: Fields added to value types after ``--json`` output was fixed: shown only when set, so the
#: output for values without them stays byte-identical (the format is extended, not changed).
_LATER_FIELDS = frozenset({"af_packet"})


def _shown(attribute: attrs.Attribute[object], value: object) -> bool:
    return not (value is None and attribute.name in _LATER_FIELDS)


def value_json(value: object) -> object:
    """A value of the desired set as plain JSON, tagged with its type name."""
    if attrs.has(type(value)):
        fields = attrs.asdict(value, recurse=True, filter=_shown)  # type: ignore[arg-type]
        return {"type": type(value).__name__, **fields}
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
        **({"vpp": _programmed_json(result.programmed)} if result.programmed else {}),
    }


def _programmed_json(p: Programmed) -> dict[str, object]:
    return {
        "socket": p.socket,
        "values": p.values,
        "configured": p.configured,
        "converged": p.converged,
        "calls": p.calls,
        "transactions": p.transactions,
        "not_configured": [{"key": k, "state": s, "detail": d} for k, s, d in p.not_configured],
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
    if result.programmed is not None:
        p = result.programmed
        lines.append("")
        lines.append(
            f"VPP at {p.socket}: {p.configured}/{p.values} values configured, "
            f"{p.calls} calls in {p.transactions} transactions, "
            + ("converged" if p.converged else "NOT converged")
        )
        lines.extend(f"  {k}: {s} {d}" for k, s, d in p.not_configured)
    if result.rejections:
        lines.append("")
        lines.append("rejected events:")
        lines.extend(f"  seq {r.seq} {r.event}: {r.error}" for r in result.rejections)
    return "\n".join(lines)
