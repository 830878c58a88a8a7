"""The agent's event handler: record, fold, render, hand the change to the reconciler, answer.

This is the one place where the data flow is assembled (events -> state -> renderers ->
desired set -> sink). The same controller runs in the agent and in ``contivpp replay``, which
is what makes a replay faithful. An event the fold rejects (IPAM exhausted, a conflicting node
ID ...) leaves the state untouched, is logged with the reason, and is answered with an error
if somebody waits for it; the next event is handled as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs
import structlog

from contivpp import ipam
from contivpp.errors import ContivError
from contivpp.events.log import EventRecorder
from contivpp.events.state import ClusterState, fold
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    CNIOutcome,
    Event,
    ResyncRequested,
    VPPRestarted,
)
from contivpp.reconcile import ResyncKind, Scheduler
from contivpp.reconcile.api import Key
from contivpp.renderers import DesiredSet, render
from contivpp.renderers.pods import pod_macs, render_pod

log = structlog.get_logger("contivpp.controller")


class DesiredSink(Protocol):
    """Where desired-state changes go (the reconciler, in the agent)."""

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> None:
        """Apply a change of the desired set; raise ContivError if values failed."""

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> None:
        """Converge the southbound to ``desired`` after reading it back (``downstream``:
        the southbound restarted and lost its state)."""


class ReconcilerSink:
    """Feeds the KV scheduler; optionally only the keys under some prefixes (replay into a
    VPP without the pods' network namespaces programs ``vpp/`` keys only)."""

    def __init__(self, scheduler: Scheduler, *, prefixes: tuple[str, ...] = ()) -> None:
        self.scheduler = scheduler
        self.prefixes = prefixes

    def _wanted(self, key: Key) -> bool:
        return not self.prefixes or key.startswith(self.prefixes)

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> None:
        wanted = {k: v for k, v in delta.items() if self._wanted(k)}
        if wanted:
            record = await self.scheduler.commit(wanted, trigger=trigger)
            record.raise_for_errors()

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> None:
        wanted = {k: v for k, v in desired.items() if self._wanted(k)}
        if downstream:
            # The scheduler already holds exactly this desired set (it gets every delta).
            record = await self.scheduler.resync(ResyncKind.DOWNSTREAM, trigger=trigger)
        else:
            record = await self.scheduler.resync(ResyncKind.FULL, desired=wanted, trigger=trigger)
        record.raise_for_errors()


@attrs.frozen
class Rejection:
    seq: int
    event: str
    error: str


def _event_name(event: Event) -> str:
    return type(event).__name__


def diff(old: Mapping[Key, object], new: Mapping[Key, object]) -> dict[Key, object | None]:
    """The delta that turns ``old`` into ``new`` (None = delete), in key order."""
    delta: dict[Key, object | None] = {}
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before != after:
            delta[key] = after
    return delta


class Controller:
    def __init__(
        self,
        state: ClusterState,
        *,
        recorder: EventRecorder | None = None,
        sink: DesiredSink | None = None,
    ) -> None:
        self.state = state
        self.recorder = recorder
        self.sink = sink
        self.desired: DesiredSet = {}
        self.rejections: list[Rejection] = []
        self.handled = 0
        self.apply_errors = 0

    async def handle(self, seq: int, event: Event) -> None:
        self.handled += 1
        if self.recorder is not None:
            self.recorder.record(seq, event)
        before = self.state
        try:
            self.state = fold(self.state, event)
        except ContivError as exc:
            self.rejections.append(Rejection(seq, _event_name(event), str(exc)))
            log.warning(
                "event_rejected", event_seq=seq, event_type=_event_name(event), error=str(exc)
            )
            _answer(event, CNIOutcome(error=str(exc)))
            return
        if self.sink is not None:
            delta = self._delta(before, event)
            desired = self.desired
            trigger = f"event {seq} {_event_name(event)}"
            try:
                if isinstance(event, VPPRestarted | ResyncRequested):
                    downstream = isinstance(event, VPPRestarted)
                    await self.sink.resync(desired, downstream=downstream, trigger=trigger)
                elif delta:
                    await self.sink.apply(delta, trigger=trigger)
            except ContivError as exc:
                # The state moved on and the reconciler keeps retrying what failed; a waiting
                # CNI caller learns that its pod is not (yet) wired.
                self.apply_errors += 1
                log.error("apply_failed", event_seq=seq, error=str(exc))
                _answer(event, CNIOutcome(error=f"applying the configuration failed: {exc}"))
                return
        _answer(event, self._outcome(event))

    def _delta(self, before: ClusterState, event: Event) -> dict[Key, object | None]:
        """Update ``self.desired``; return what changed.

        A CNI event changes one pod and nothing else, so only that pod is rendered again
        (O(1) per pod instead of O(pods)); any other event renders the whole set and diffs.
        """
        after = self.state
        if (
            isinstance(event, CNIAdd | CNIDel)
            and before.node_id == after.node_id
            and before.config is after.config
            and after.node_id is not None
            and self.desired
        ):
            key = (event.pod_namespace, event.pod_name)
            old = before.local_pods.get(key)
            new = after.local_pods.get(key)
            if old is new:
                return {}
            old_part = render_pod(after.config, after.node_id, old) if old else {}
            new_part = render_pod(after.config, after.node_id, new) if new else {}
            delta = diff(old_part, new_part)
            for k, v in delta.items():
                if v is None:
                    self.desired.pop(k, None)
                else:
                    self.desired[k] = v
            return delta
        desired = render(after)
        delta = diff(self.desired, desired)
        self.desired = desired
        return delta

    def _outcome(self, event: Event) -> CNIOutcome:
        if not isinstance(event, CNIAdd):
            return CNIOutcome()
        pod = self.state.local_pods.get((event.pod_namespace, event.pod_name))
        if pod is None or not pod.ip or self.state.node_id is None:
            return CNIOutcome(error="this node has no ID yet: cannot allocate a pod address")
        gateway = ipam.pod_gateway(self.state.config.ipam, self.state.node_id)
        return CNIOutcome(
            ip=pod.ip, gateway=str(gateway), mac=pod_macs(pod.container_id, pod.ifname)[0]
        )


def _answer(event: Event, outcome: CNIOutcome) -> None:
    if isinstance(event, CNIAdd | CNIDel) and event.reply is not None and not event.reply.done():
        event.reply.set_result(outcome)
