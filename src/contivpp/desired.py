"""The agent's one copy of the desired set, kept in parts so one change costs what it affects.

The controller asks :meth:`DesiredParts.prepare` what an event changes: the owners the event
dirties (``renderers.parts.dirty_owners``) are re-rendered, but only those whose explicit
inputs differ from the last render, and the delta is the union of their per-part diffs. Nothing
is mutated until :meth:`DesiredParts.commit`, so a render that fails leaves the parts as they
were and the controller can reject the event as a whole.

Each key has one owner. Two owners rendering one key is a renderer bug: in ``strict`` mode
(tests) it raises, otherwise it is logged naming both owners and the smallest owner keeps the
key, exactly as the reference ``render(state)`` decides, so the two never disagree. The one
exception are *shared* keys (``parts.is_shared``: content-addressed values such as an ACL
named after its rules): any number of owners may render them with the same value, and the
value stays while one of them does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from contivpp.events.state import ClusterState
from contivpp.events.types import Event
from contivpp.reconcile.api import Key
from contivpp.renderers import DesiredSet, report_collision
from contivpp.renderers.parts import (
    EVERYTHING,
    Owner,
    Part,
    all_owners,
    dirty_owners,
    is_shared,
    kind_of,
)

_NOTHING = object()


@attrs.frozen
class PartChange:
    owner: Owner
    inputs: object | None  # None: the owner is gone
    part: Part


@attrs.frozen
class Change:
    """What one event does to the desired set; applied by :meth:`DesiredParts.commit`."""

    parts: tuple[PartChange, ...] = ()
    rendered: int = 0  # parts rendered again (their inputs changed)
    examined: int = 0  # owners the event dirtied


class DesiredParts:
    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._inputs: dict[Owner, object] = {}
        self._parts: dict[Owner, Part] = {}
        self._owner_of: dict[Key, Owner] = {}
        self._merged: dict[Key, object] = {}
        #: Keys two or more owners render (a bug, reported): key -> every claimant.
        self._contested: dict[Key, set[Owner]] = {}

    # ---- reading ----------------------------------------------------------------------------
    def merged(self) -> DesiredSet:
        """The whole desired set, keys sorted (O(N): resync and tests)."""
        return dict(sorted(self._merged.items()))

    def get(self, key: Key) -> object | None:
        return self._merged.get(key)

    def part(self, owner: Owner) -> Mapping[Key, object]:
        return self._parts.get(owner, {})

    def __len__(self) -> int:
        return len(self._merged)

    # ---- changing ---------------------------------------------------------------------------
    def prepare(self, before: ClusterState, after: ClusterState, event: Event) -> Change:
        """Render what ``event`` changed; raises (ContivError) if a renderer does."""
        dirty = dirty_owners(before, after, event)
        owners: Iterable[Owner]
        if dirty is EVERYTHING:
            owners = sorted(set(self._parts) | set(all_owners(after)))
        else:
            owners = sorted(dirty)  # type: ignore[arg-type]
        return self.render_owners(after, owners)

    def render_owners(self, state: ClusterState, owners: Iterable[Owner]) -> Change:
        changes = []
        examined = rendered = 0
        for owner in owners:
            examined += 1
            kind = kind_of(owner)
            inputs = kind.inputs(state, owner)
            old_inputs = self._inputs.get(owner, _NOTHING)
            if inputs is old_inputs or inputs == old_inputs:
                continue
            if inputs is None:
                if owner in self._parts:
                    changes.append(PartChange(owner, None, {}))
                continue
            rendered += 1
            changes.append(PartChange(owner, inputs, kind.render(inputs)))
        return Change(tuple(changes), rendered=rendered, examined=examined)

    def commit(self, change: Change) -> dict[Key, object | None]:
        """Apply a prepared change; return the delta of the merged set (None = delete)."""
        delta: dict[Key, object | None] = {}
        for pc in change.parts:
            old = self._parts.pop(pc.owner, {})
            if pc.inputs is None:
                self._inputs.pop(pc.owner, None)
            else:
                self._inputs[pc.owner] = pc.inputs
                self._parts[pc.owner] = pc.part
            for key in old.keys() - pc.part.keys():
                self._drop(key, pc.owner, delta)
            for key, value in pc.part.items():
                if old.get(key, _NOTHING) != value or self._owner_of.get(key) != pc.owner:
                    self._put(key, value, pc.owner, delta)
        return {key: delta[key] for key in sorted(delta)}

    def _put(self, key: Key, value: object, owner: Owner, delta: dict[Key, object | None]) -> None:
        holder = self._owner_of.get(key)
        if holder is not None and holder != owner:
            self._contest(key, holder, owner, value)
            if holder < owner:
                return
        self._owner_of[key] = owner
        if self._merged.get(key, _NOTHING) != value:
            self._merged[key] = value
            delta[key] = value

    def _contest(self, key: Key, holder: Owner, intruder: Owner, value: object) -> None:
        claimants = self._contested.setdefault(key, {holder})
        if intruder not in claimants:
            claimants.add(intruder)
            if is_shared(key) and self._parts[holder].get(key) == value:
                return  # a content-addressed value several owners use
            first, second = sorted((holder, intruder))
            report_collision(key, first, second, strict=self.strict)

    def _drop(self, key: Key, owner: Owner, delta: dict[Key, object | None]) -> None:
        claimants = self._contested.get(key)
        if claimants is not None:
            claimants.discard(owner)
            if len(claimants) <= 1:
                del self._contested[key]
        if self._owner_of.get(key) != owner:
            return
        heirs = sorted(c for c in (claimants or ()) if key in self._parts.get(c, {}))
        if heirs:
            self._owner_of[key] = heirs[0]
            value = self._parts[heirs[0]][key]
            if self._merged.get(key) != value:
                self._merged[key] = value
                delta[key] = value
            return
        del self._owner_of[key]
        del self._merged[key]
        delta[key] = None
