"""The agent's one copy of the desired set, kept in parts so one change costs what it affects.

The controller asks :meth:`DesiredParts.prepare` what an event changes: the owners the event
dirties (``renderers.parts.dirty_owners``) are re-rendered, but only those whose explicit
inputs differ from the last render, and the delta is the union of their per-part diffs. Nothing
is mutated until :meth:`DesiredParts.commit`, so a render that fails leaves the parts as they
were and the controller can reject the event as a whole. Facts (intermediate results such as
one pod's policy rules) are kept the same way, rendered before the parts that read them.

Each key has one owner. Two owners rendering one key is a renderer bug: in ``strict`` mode
(tests) it raises, otherwise it is logged naming both owners and the smallest owner keeps the
key, exactly as the reference ``render(state)`` decides, so the two never disagree. The one
exception are *shared* keys (``parts.is_shared``: content-addressed values such as an ACL
named after its rules): any number of owners may render them with the same value, and the
value stays while one of them does.
"""

from __future__ import annotations

import heapq
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping

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
    fact_owners,
    is_shared,
    kind_of,
)
from contivpp.renderers.services import Backend, backends_of

_NOTHING = object()


def _order(owner: Owner) -> tuple[int, int, Owner]:
    """Facts before parts, lower stages first."""
    kind = kind_of(owner)
    return (0 if kind.fact else 1, kind.stage, owner)


class _Without(Mapping[Owner, object]):
    """The facts as a render in progress sees them: new ones over the kept ones, minus the
    facts of owners that are going away."""

    def __init__(self, facts: Mapping[Owner, object], gone: set[Owner]) -> None:
        self._facts, self._gone = facts, gone

    def __getitem__(self, owner: Owner) -> object:
        if owner in self._gone:
            raise KeyError(owner)
        return self._facts[owner]

    def __iter__(self) -> Iterator[Owner]:
        return (o for o in self._facts if o not in self._gone)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@attrs.frozen
class PartChange:
    owner: Owner
    inputs: object | None  # None: the owner is gone
    part: Part
    fact: object = None  # for fact kinds: the new fact (None with ``inputs`` None)


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
        self._facts: dict[Owner, object] = {}
        self._owner_of: dict[Key, Owner] = {}
        self._merged: dict[Key, object] = {}
        #: Keys two or more owners render (a bug, reported): key -> every claimant.
        self._contested: dict[Key, set[Owner]] = {}
        #: The values the last commit replaced or deleted (key -> previous value).
        self.replaced: dict[Key, object] = {}
        #: How many NAT mapping values use each backend (stale-session clean-up).
        self._backend_refs: dict[Backend, int] = {}

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
            owners = set(self._inputs) | set(all_owners(after)) | set(fact_owners(after))
        else:
            owners = dirty  # type: ignore[assignment]
        return self.render_owners(after, owners)

    def render_owners(self, state: ClusterState, owners: Iterable[Owner]) -> Change:
        """Facts first, stage by stage (other inputs read them), then parts; each owner only
        when its inputs differ from the last render. A fact that changes brings its readers
        in, so a dirty owner's effect propagates as far as it really goes."""
        changes = []
        examined = rendered = 0
        facts = ChainMap[Owner, object]({}, self._facts)
        gone: set[Owner] = set()
        queue = [(_order(owner), owner) for owner in set(owners)]
        heapq.heapify(queue)
        seen = {owner for _, owner in queue}
        while queue:
            _, owner = heapq.heappop(queue)
            examined += 1
            kind = kind_of(owner)
            inputs = kind.inputs(state, owner, _Without(facts, gone))
            old_inputs = self._inputs.get(owner, _NOTHING)
            if inputs is old_inputs or inputs == old_inputs:
                continue
            if inputs is None:
                if owner not in self._inputs:
                    continue
                changes.append(PartChange(owner, None, {}))
                gone.add(owner)
            else:
                rendered += 1
                if not kind.fact:
                    changes.append(PartChange(owner, inputs, kind.render(inputs)))
                    continue
                fact = kind.render(inputs)
                facts.maps[0][owner] = fact
                changes.append(PartChange(owner, inputs, {}, fact))
                if self._facts.get(owner, _NOTHING) == fact:
                    continue
            if kind.readers is not None:
                for reader in kind.readers(state, owner):
                    if reader not in seen:
                        seen.add(reader)
                        heapq.heappush(queue, (_order(reader), reader))
        return Change(tuple(changes), rendered=rendered, examined=examined)

    def commit(self, change: Change) -> dict[Key, object | None]:
        """Apply a prepared change; return the delta of the merged set (None = delete).
        The values it replaced are in :attr:`replaced` until the next commit."""
        self.replaced = {}
        delta: dict[Key, object | None] = {}
        for pc in change.parts:
            old = self._parts.pop(pc.owner, {})
            if pc.inputs is None:
                self._inputs.pop(pc.owner, None)
                self._facts.pop(pc.owner, None)
            else:
                self._inputs[pc.owner] = pc.inputs
                if kind_of(pc.owner).fact:
                    self._facts[pc.owner] = pc.fact
                else:
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
        old = self._merged.get(key, _NOTHING)
        if old != value:
            if old is not _NOTHING:
                self.replaced.setdefault(key, old)
            self._set(key, value)
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
                self.replaced.setdefault(key, self._merged[key])
                self._set(key, value)
                delta[key] = value
            return
        del self._owner_of[key]
        self.replaced.setdefault(key, self._merged[key])
        self._set(key, _NOTHING)
        delta[key] = None

    def _set(self, key: Key, value: object) -> None:
        """Change the merged set (``_NOTHING``: remove the key), keeping the backend count."""
        old = self._merged.pop(key, None) if value is _NOTHING else self._merged.get(key)
        for backend in backends_of(old):
            left = self._backend_refs[backend] - 1
            if left:
                self._backend_refs[backend] = left
            else:
                del self._backend_refs[backend]
        if value is not _NOTHING:
            self._merged[key] = value
            for backend in backends_of(value):
                self._backend_refs[backend] = self._backend_refs.get(backend, 0) + 1

    def unused_backends(self) -> tuple[Backend, ...]:
        """Backends the values the last commit replaced used and no value uses now: their
        NAT sessions must go (O(what the commit changed), no scan of the desired set)."""
        gone = {b for old in self.replaced.values() for b in backends_of(old)}
        return tuple(sorted(b for b in gone if b not in self._backend_refs))
