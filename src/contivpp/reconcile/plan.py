"""Turning a set of changed keys into an ordered plan of waves.

The plan must be correct (dependencies exist before a value is created, dependents and derived
values are gone before a value is deleted), deterministic (sorted keys), concurrent (operations
that do not depend on each other share a wave) and local (cost proportional to the keys that
changed plus what they cascade to, never to the size of the graph).

The target - which values should exist after the transaction - is the *least fixpoint* of the
dependency rules: a wanted value is in it when every dependency label is satisfied by another
value in it (and, for derived values, its base is in it). Values in a dependency cycle are
therefore never created; they stay PENDING. Computing it locally follows the classic
delete-and-rederive approach:

1. *Suspects* are present values whose membership may change: dirty values that may disappear or
   change their dependencies, plus everything depending on them (transitively) and derived from
   them. Dirty present values that keep their dependencies unchanged are not expanded.
2. Values outside the region keep their state. Region values are placed round by round: a value
   is placed in round ``r`` once its dependencies are satisfied by values present outside the
   region or placed in earlier rounds. Round ``r`` becomes write wave ``r``.
3. Present region values left unplaced, or placed but needing re-creation, are deleted. Deleting
   them may strand present values whose *applied* dependencies they satisfied; those are deleted
   too ("bounced") and re-created in their round. Delete waves run in the reverse of an order in
   which the leaving values could have been created (see ``_delete_waves``).
4. Except: a value that only leaves (no re-creation), depends on nothing itself, and whose
   stranded dependents are all updated in place to stop needing it is deleted *late*, after
   the writes. Bouncing those
   dependents would take them away for a moment (an interface without its ACLs: a policy
   change must never open a window); updating them first and deleting afterwards keeps every
   value in place throughout.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from itertools import chain

import attrs

from contivpp.reconcile.api import Dependency, Key, Origin
from contivpp.reconcile.deps import matches, same_shape
from contivpp.reconcile.graph import Graph, Node, Presence
from contivpp.reconcile.status import Operation, ValueState


@attrs.define
class Plan:
    """Waves of keys to delete, then waves of keys to create or update."""

    delete_waves: list[list[Key]]
    write_waves: list[list[tuple[Key, Operation]]]
    #: Every key whose state the transaction must settle afterwards.
    region: set[Key]
    #: Present keys that are deleted and created again.
    recreate: set[Key]
    #: Keys deleted although something still depends on them: they are in a dependency cycle
    #: (read back from the southbound), where any deletion order strands some value.
    cycle_breaking: set[Key] = attrs.field(factory=set)
    #: Waves of deletions that wait for the writes (see the module docstring, step 4).
    late_delete_waves: list[list[Key]] = attrs.field(factory=list)


class _Facts:
    """Descriptor answers cached for one plan (``equivalent`` and friends are user code)."""

    def __init__(self) -> None:
        self._sync: dict[Key, bool] = {}
        self._recreate: dict[Key, bool] = {}

    def in_sync(self, node: Node) -> bool:
        found = self._sync.get(node.key)
        if found is None:
            found = self._sync[node.key] = node.in_sync()
        return found

    def needs_recreate(self, node: Node) -> bool:
        found = self._recreate.get(node.key)
        if found is None:
            found = self._recreate[node.key] = node.needs_recreate()
        return found

    def keeps_shape(self, node: Node) -> bool:
        """A present, wanted value that changes in place (or not at all), same dependencies."""
        if not node.wanted or not node.available:
            return False
        if not self.in_sync(node) and self.needs_recreate(node):
            return False
        return same_shape(node.desired_deps, node.applied_deps)


def make_plan(graph: Graph, dirty: Iterable[Key], *, suspect_all: bool = False) -> Plan:
    """Plan the transaction that settles ``dirty`` keys (and what they cascade to)."""
    facts = _Facts()
    seeds = set(dirty)
    forced: set[Key] = set()
    while True:
        planner = _Planner(graph, facts, seeds | forced, forced, suspect_all)
        planner.place()
        # An exempt value that cannot be placed will disappear after all: its dependents must
        # then be examined too, so plan again with it as a suspect. Each round adds keys, so
        # this ends; it is rare (an in-place update whose dependencies vanished).
        unplaced = planner.unplaced_exempt() | (planner.reshaped - forced)
        if not unplaced:
            unplaced = planner.schedule_deletes()
        if not unplaced:
            return planner.plan()
        forced |= unplaced


class _Planner:
    def __init__(
        self,
        graph: Graph,
        facts: _Facts,
        seeds: Collection[Key],
        forced: Collection[Key],
        suspect_all: bool,
    ) -> None:
        self.graph = graph
        self.facts = facts
        self.region: set[Key] = set()
        #: Present region values whose dependents were examined.
        self.suspects: set[Key] = set()
        #: Present region values that keep their dependencies (their dependents were not).
        self.exempt: set[Key] = set()
        self.placed: dict[Key, int] = {}
        self.leaving: set[Key] = set()
        self.recreate: set[Key] = set()
        #: Leaving keys deleted after the writes (step 4).
        self.late: set[Key] = set()
        #: Present values that joined the region with new dependencies (re-planned as suspects).
        self.reshaped: set[Key] = set()
        self.cycle_breaking: set[Key] = set()
        self._collect(seeds, forced, suspect_all)

    # ---- 1. region -------------------------------------------------------------------
    def _collect(self, seeds: Collection[Key], forced: Collection[Key], suspect_all: bool) -> None:
        nodes = self.graph.nodes
        stack: list[Key] = []
        for key in sorted(seeds):
            node = nodes.get(key)
            if node is None or node.origin is Origin.SB:
                continue
            self.region.add(key)
            if not node.available:
                continue
            if suspect_all or key in forced or not self.facts.keeps_shape(node):
                self.suspects.add(key)
                stack.append(key)
            else:
                self.exempt.add(key)
        while stack:
            key = stack.pop()
            for other in chain(self.graph.children(key), self.graph.dependents(key)):
                if other in self.suspects:
                    continue
                node = nodes.get(other)
                # Absent values lose nothing when a provider goes; they join only if placed.
                if node is None or not node.available or node.origin is Origin.SB:
                    continue
                self.region.add(other)
                self.exempt.discard(other)
                self.suspects.add(other)
                stack.append(other)

    # ---- 2. target -------------------------------------------------------------------
    def place(self) -> None:
        graph, nodes = self.graph, self.graph.nodes
        unsettled = {k for k in self.region if nodes[k].available}
        presence = graph.presence(gone=unsettled, created=set())
        frontier = sorted(k for k in self.region if nodes[k].wanted)
        waiting: set[Key] = set()
        round_no = 1
        while frontier:
            ready = [k for k in frontier if self._placeable(nodes[k], presence)]
            ready_set = set(ready)
            waiting.update(k for k in frontier if k not in ready_set)
            if not ready:
                break
            for key in ready:
                self.placed[key] = round_no
                presence.add_created(key)
            affected: set[Key] = set()
            for key in ready:
                for other in chain(graph.children(key), graph.dependents(key)):
                    if other in self.placed:
                        continue
                    if other in waiting:
                        waiting.discard(other)
                        affected.add(other)
                    elif other not in self.region and self._joins(other):
                        affected.add(other)
            frontier = sorted(affected)
            round_no += 1

    def _joins(self, key: Key) -> bool:
        """A value outside the region that a newly placed value may unblock."""
        node = self.graph.nodes.get(key)
        if node is None or not node.wanted or node.origin is Origin.SB:
            return False
        if node.available:
            # Outside the region CONFIGURED implies in sync (its request did not change since it
            # was applied, or it would be dirty): skip the descriptor call for the common case.
            if node.state is ValueState.CONFIGURED or self.facts.in_sync(node):
                return False
            self.exempt.add(key)  # an update waiting for this dependency; checked like exempt
            if not self.facts.keeps_shape(node):
                # Its present value may be what let this round's values be placed; with new
                # dependencies it could close a circle through them: plan it as a suspect.
                self.reshaped.add(key)
        self.region.add(key)
        return True

    @staticmethod
    def _placeable(node: Node, presence: Presence) -> bool:
        if not node.wanted:
            return False
        if node.base is not None and not presence.has(node.base):
            return False
        return presence.satisfied(node.key, node.desired_deps)

    def unplaced_exempt(self) -> set[Key]:
        return {k for k in self.exempt if k not in self.placed}

    # ---- 3. deletions ----------------------------------------------------------------
    def schedule_deletes(self) -> set[Key]:
        """Fill ``leaving``; return keys that must be re-planned as suspects (normally none)."""
        nodes = self.graph.nodes
        for key in self.region:
            member = nodes[key]
            if not member.available:
                continue
            if key not in self.placed:
                self.leaving.add(key)
            elif not self.facts.in_sync(member) and self.facts.needs_recreate(member):
                self.leaving.add(key)
                self.recreate.add(key)
        self._find_late()
        gone = self.leaving - self.late  # grows with the cascade: the presence reads it live
        presence = self.graph.presence(gone=gone)
        stack = sorted(gone)
        replan: set[Key] = set()
        while stack:
            key = stack.pop()
            for other in chain(self.graph.children(key), self.graph.dependents(key)):
                if other in self.leaving:
                    continue
                node = nodes.get(other)
                if node is None or not node.available or node.origin is Origin.SB:
                    continue
                if node.base == key or not presence.satisfied(other, node.applied_deps):
                    if other not in self.region:
                        replan.add(other)  # cannot happen if the region is closed; be safe
                    self.leaving.add(other)
                    gone.add(other)
                    stack.append(other)
                    if other in self.placed:
                        self.recreate.add(other)
        return replan

    def _find_late(self) -> None:
        """Leaving keys whose stranded dependents are all updated in place away from them."""
        nodes = self.graph.nodes
        for key in sorted(self.leaving - self.recreate):
            if nodes[key].base is not None or nodes[key].applied_deps:
                # Derived values follow their base. A value that depends on others is not
                # kept late: the writes could take away what it rests on (a property its
                # provider's update drops) and each would wait for the other.
                continue
            presence = self.graph.presence(gone={key})
            stranded = [
                other
                for other in sorted(self.graph.dependents(key))
                if other not in self.leaving
                and (node := nodes.get(other)) is not None
                and node.available
                and node.origin is not Origin.SB
                and not presence.satisfied(other, node.applied_deps)
            ]
            if stranded and all(self._updated_away(nodes[o], key) for o in stranded):
                self.late.add(key)
                self.late.update(self._derived_leaving(key))

    def _updated_away(self, node: Node, key: Key) -> bool:
        """``node`` is updated in place (not re-created) and its new value names ``key`` in no
        dependency (any-of dependencies count as naming it: the conservative side)."""
        if node.key not in self.placed or node.key in self.recreate:
            return False
        if self.facts.in_sync(node) or self.facts.needs_recreate(node):
            return False
        return not any(matches(dep, key) for dep in node.desired_deps)

    def _derived_leaving(self, key: Key) -> set[Key]:
        found: set[Key] = set()
        stack = [key]
        while stack:
            for child in self.graph.children(stack.pop()):
                if child in self.leaving and child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def _delete_waves(self) -> list[list[Key]]:
        """Delete in the reverse of an order in which the leaving values could be created.

        A value's *support rank* is the round in which its applied dependencies are satisfied
        by staying values and leaving values of lower rank (its base, too). Deleting from the
        highest rank down never strands anything: whatever still exists is supported by lower
        ranks or by staying values. Values of equal rank do not support each other, so each
        rank is one wave. An any-of dependency only needs its supporting provider, so other
        providers of it may go first - a static "dependent before every provider" order would
        see cycles that are not there. Values with only circular support (read back from a
        southbound in a strange state) rank nowhere and are peeled off first.
        """
        nodes = self.graph.nodes
        presence = self.graph.presence(gone=set(self.leaving), created=set())
        ranks: dict[Key, int] = {}
        frontier = sorted(self.leaving)
        waiting: set[Key] = set()
        rank = 0
        while frontier:
            ready = [k for k in frontier if self._supported(nodes[k], presence)]
            ready_set = set(ready)
            waiting.update(k for k in frontier if k not in ready_set)
            for key in ready:
                ranks[key] = rank
                presence.add_created(key)
            affected: set[Key] = set()
            for key in ready:
                for other in chain(self.graph.children(key), self.graph.dependents(key)):
                    if other in waiting:
                        waiting.discard(other)
                        affected.add(other)
            frontier = sorted(affected)
            rank += 1
        waves = self._peel(self.leaving - ranks.keys())
        by_rank: dict[int, list[Key]] = {}
        for key in sorted(ranks):
            by_rank.setdefault(ranks[key], []).append(key)
        waves.extend(by_rank[r] for r in sorted(by_rank, reverse=True))
        return waves

    @staticmethod
    def _supported(node: Node, presence: Presence) -> bool:
        if node.base is not None and not presence.has(node.base):
            return False
        return presence.satisfied(node.key, node.applied_deps)

    def _peel(self, keys: set[Key]) -> list[list[Key]]:
        """Greedy waves for values with circular support: each wave takes what is free."""
        nodes = self.graph.nodes
        earlier: set[Key] = set()
        remaining = set(keys)
        check = sorted(remaining)
        waves: list[list[Key]] = []
        while remaining:
            presence = self.graph.presence(gone=set(earlier))
            wave = [k for k in check if self._free(nodes[k], presence, earlier)]
            if not wave:
                # A genuine cycle: whichever goes first strands another. Break it at the
                # smallest key (deterministic); the executor lets that one delete through.
                wave = [min(remaining)]
                self.cycle_breaking.add(wave[0])
            waves.append(wave)
            remaining.difference_update(wave)
            earlier.update(wave)
            check = sorted(self._unblocked_by(wave, remaining))
        return waves

    def _free(self, node: Node, presence: Presence, earlier: set[Key]) -> bool:
        if self.graph.blocker(node, presence, earlier) is not None:
            return False
        presence.gone.add(node.key)  # later keys of the same wave see it gone already
        return True

    def _unblocked_by(self, wave: list[Key], remaining: set[Key]) -> set[Key]:
        """Remaining values that ``wave``'s deletions may have freed: their providers."""
        nodes = self.graph.nodes
        found: set[Key] = set()
        any_of: dict[tuple[tuple[str, ...], int], tuple[Key, Dependency]] = {}
        for key in wave:
            node = nodes[key]
            if node.base is not None and node.base in remaining:
                found.add(node.base)
            for dep in node.applied_deps:
                if dep.key is not None:
                    if dep.key in remaining:
                        found.add(dep.key)
                else:
                    any_of.setdefault((dep.any_of_prefixes, id(dep.any_of_selector)), (key, dep))
        for dependent, dep in any_of.values():
            found.update(
                k for k in self.graph.providers.providers(dependent, dep) if k in remaining
            )
        return found

    def plan(self) -> Plan:
        nodes = self.graph.nodes
        by_round: dict[int, list[tuple[Key, Operation]]] = {}
        for key in sorted(self.placed):
            node = nodes[key]
            if key in self.leaving or not node.available:
                op = Operation.CREATE
            elif not self.facts.in_sync(node):
                op = Operation.UPDATE
            else:
                continue  # already right
            by_round.setdefault(self.placed[key], []).append((key, op))
        leaving = self.leaving
        self.leaving = leaving - self.late
        delete_waves = self._delete_waves()
        self.leaving = set(self.late)
        late_waves = self._delete_waves() if self.late else []
        self.leaving = leaving
        return Plan(
            delete_waves=delete_waves,
            write_waves=[by_round[r] for r in sorted(by_round)],
            region=self.region | self.leaving,
            recreate=self.recreate,
            cycle_breaking=self.cycle_breaking,
            late_delete_waves=late_waves,
        )
