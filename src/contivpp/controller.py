"""The agent's event handler: record, fold, render, hand the change to the reconciler, answer.

This is the one place where the data flow is assembled (events -> state -> renderers ->
desired set -> sink). The same controller runs in the agent and in ``contivpp replay``, which
is what makes a replay faithful. An event the fold rejects (IPAM exhausted, a conflicting node
ID ...) leaves the state untouched, is logged with the reason, and is answered with an error
if somebody waits for it; the next event is handled as usual.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

import attrs
import structlog

from contivpp import ipam
from contivpp.desired import DesiredParts
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
from contivpp.model import keys
from contivpp.reconcile import ResyncKind, Scheduler, ValueState
from contivpp.reconcile.api import Key
from contivpp.renderers import DesiredSet
from contivpp.renderers.parts import pod_owner
from contivpp.renderers.pods import pod_macs
from contivpp.renderers.services import Backend

log = structlog.get_logger("contivpp.controller")


class DesiredSink(Protocol):
    """Where desired-state changes go (the reconciler, in the agent)."""

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> Mapping[Key, str]:
        """Apply a change of the desired set; return the keys that failed, with the reason."""

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> Mapping[Key, str]:
        """Converge the southbound to ``desired`` after reading it back (``downstream``:
        the southbound restarted and lost its state); return the keys that failed."""

    def problems(self, keys: Iterable[Key]) -> dict[Key, str]:
        """Of ``keys``, those not configured in the southbound, each with the reason."""

    async def drop_sessions(self, backends: Sequence[Backend]) -> None:
        """Delete the southbound's NAT sessions towards backends no mapping uses any more."""


SessionJanitor = Callable[[Backend], Awaitable[int]]
"""Deletes the NAT sessions towards one backend; returns how many (the VPP side of it)."""


class ReconcilerSink:
    """Feeds the KV scheduler; optionally only the keys under some prefixes (replay into a
    VPP without the pods' network namespaces programs ``vpp/`` keys only)."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        prefixes: tuple[str, ...] = (),
        sessions: SessionJanitor | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.prefixes = prefixes
        self.sessions = sessions

    def _wanted(self, key: Key) -> bool:
        return not self.prefixes or key.startswith(self.prefixes)

    async def apply(self, delta: Mapping[Key, object | None], *, trigger: str) -> Mapping[Key, str]:
        wanted = {k: v for k, v in delta.items() if self._wanted(k)}
        if not wanted:
            return {}
        record = await self.scheduler.commit(wanted, trigger=trigger)
        return {key: str(error) for key, error in record.errors.items()}

    async def resync(
        self, desired: Mapping[Key, object], *, downstream: bool, trigger: str
    ) -> Mapping[Key, str]:
        wanted = {k: v for k, v in desired.items() if self._wanted(k)}
        if downstream:
            # The scheduler already holds exactly this desired set (it gets every delta).
            record = await self.scheduler.resync(ResyncKind.DOWNSTREAM, trigger=trigger)
        else:
            record = await self.scheduler.resync(ResyncKind.FULL, desired=wanted, trigger=trigger)
        return {key: str(error) for key, error in record.errors.items()}

    def problems(self, keys: Iterable[Key]) -> dict[Key, str]:
        out = {}
        for key in keys:
            if not self._wanted(key):
                continue
            status = self.scheduler.status(key)
            if status.state is not ValueState.CONFIGURED:
                reason = str(status.error) if status.error else ""
                if not reason and status.missing:
                    reason = "waits for " + ", ".join(status.missing)
                out[key] = f"{status.state.value}" + (f": {reason}" if reason else "")
        return out

    async def drop_sessions(self, backends: Sequence[Backend]) -> None:
        if self.sessions is None:
            return
        for backend in backends:
            try:
                await self.sessions(backend)
            except ContivError as exc:
                # Sessions expire on their own; a failed clean-up must not stop the loop.
                log.warning("stale_sessions_not_deleted", backend=str(backend), error=str(exc))


_MAPPING_PREFIXES = (keys.NAT44_STATIC_PREFIX, keys.NAT44_LB_PREFIX)


@attrs.frozen
class Rejection:
    seq: int
    event: str
    error: str


@attrs.frozen
class HandledEvent:
    """One entry of the bounded event history an operator reads (``/controller/event-history``)."""

    seq: int
    type: str
    #: Wall-clock start (Unix seconds) and how long the handling took, in seconds.
    started: float
    duration: float
    #: "ok", "rejected" (state unchanged, see ``error``) or "apply-failed" (the reconciler
    #: keeps retrying what failed).
    outcome: str = "ok"
    error: str = ""


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
        strict: bool = False,
        history_size: int = 1000,
    ) -> None:
        """``strict`` (tests): a renderer bug such as two owners of one key raises.
        ``history_size``: how many handled events :attr:`history` keeps (memory stays bounded)."""
        self.state = state
        self.recorder = recorder
        self.sink = sink
        self.parts = DesiredParts(strict=strict)
        self.rejections: list[Rejection] = []
        self.history: deque[HandledEvent] = deque(maxlen=history_size)
        self._apply_error = ""  # the last one, for the history entry of its event
        self.handled = 0
        self.apply_errors = 0
        #: Parts rendered and desired values changed by the last event (benchmarks, logs).
        self.last_rendered = 0
        self.last_touched = 0

    @property
    def desired(self) -> DesiredSet:
        """The whole desired set (a copy, O(N))."""
        return self.parts.merged()

    async def handle(self, seq: int, event: Event) -> None:
        wall, started = time.time(), time.perf_counter()
        rejections, apply_errors = len(self.rejections), self.apply_errors
        try:
            await self._handle(seq, event)
        finally:
            outcome, error = "ok", ""
            if len(self.rejections) > rejections:
                outcome, error = "rejected", self.rejections[-1].error
            elif self.apply_errors > apply_errors:
                outcome, error = "apply-failed", self._apply_error
            duration = time.perf_counter() - started
            self.history.append(
                HandledEvent(seq, _event_name(event), wall, duration, outcome, error)
            )

    async def _handle(self, seq: int, event: Event) -> None:
        self.handled += 1
        if self.recorder is not None:
            self.recorder.record(seq, event)
        before = self.state
        try:
            after = fold(before, event)
            change = self.parts.prepare(before, after, event)
        except ContivError as exc:
            # Rejected as a whole: neither the state nor the desired set moves.
            self._reject(seq, event, str(exc))
            return
        self.state = after
        delta = self.parts.commit(change)
        self.last_rendered, self.last_touched = change.rendered, len(delta)
        if self.sink is not None:
            trigger = f"event {seq} {_event_name(event)}"
            if isinstance(event, VPPRestarted | ResyncRequested):
                downstream = isinstance(event, VPPRestarted)
                failed = await _refused_as_failed(
                    self.sink.resync(self.parts.merged(), downstream=downstream, trigger=trigger)
                )
            elif delta:
                failed = await _refused_as_failed(self.sink.apply(delta, trigger=trigger))
            else:
                failed = {}
            if delta and any(k.startswith(_MAPPING_PREFIXES) for k in self.parts.replaced):
                stale = self.parts.unused_backends()
                if stale:
                    await self.sink.drop_sessions(stale)
            if failed:
                # The reconciler keeps retrying what failed; a CNI caller is judged below by
                # its own pod's values only.
                self.apply_errors += 1
                self._apply_error = _first_error(failed)
                if len(failed) > 1:
                    self._apply_error += f" and {len(failed) - 1} more value(s)"
                log.error(
                    "apply_failed", event_seq=seq, failed=len(failed), error=_first_error(failed)
                )
            if isinstance(event, CNIAdd):
                problems = self._pod_problems(event)
                if problems:
                    await self._undo_add(seq, event, before, problems)
                    return
        _answer(event, self._outcome(event))

    def _reject(self, seq: int, event: Event, error: str) -> None:
        self.rejections.append(Rejection(seq, _event_name(event), error))
        log.warning("event_rejected", event_seq=seq, event_type=_event_name(event), error=error)
        _answer(event, CNIOutcome(error=error))

    def _pod_problems(self, event: CNIAdd) -> dict[Key, str]:
        assert self.sink is not None
        own = self.parts.part(pod_owner(event.pod_namespace, event.pod_name))
        return self.sink.problems(own.keys())

    async def _undo_add(
        self, seq: int, event: CNIAdd, before: ClusterState, problems: Mapping[Key, str]
    ) -> None:
        """A pod whose own values did not apply is not kept: the state goes back to before the
        ADD (its address is free again, nothing is persisted) and its values are withdrawn."""
        assert self.sink is not None
        after = self.state
        self.state = before
        delta = self.parts.commit(self.parts.prepare(after, before, event))
        if delta:
            failed = await _refused_as_failed(
                self.sink.apply(delta, trigger=f"event {seq} undo CNIAdd")
            )
            if failed:
                self.apply_errors += 1
                self._apply_error = _first_error(failed)
                log.error("undo_failed", event_seq=seq, error=_first_error(failed))
        key = next(iter(sorted(problems)))
        error = f"the pod's configuration failed ({key}: {problems[key]})"
        if len(problems) > 1:
            error += f" and {len(problems) - 1} more value(s)"
        self._reject(seq, event, error)

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


async def _refused_as_failed(applying: Awaitable[Mapping[Key, str]]) -> Mapping[Key, str]:
    """What a sink call failed; a sink that refuses the change as a whole (a scheduler
    contract error) counts as one failure, so the loop goes on and callers get an answer."""
    try:
        return await applying
    except ContivError as exc:
        return {Key("<sink>"): str(exc)}


def _first_error(failed: Mapping[Key, str]) -> str:
    key = min(failed)
    return f"{key}: {failed[key]}"


def _answer(event: Event, outcome: CNIOutcome) -> None:
    if isinstance(event, CNIAdd | CNIDel) and event.reply is not None and not event.reply.done():
        event.reply.set_result(outcome)
