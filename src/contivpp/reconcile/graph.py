"""The scheduler's memory: one node per key, with what was asked for and what is applied.

Every node keeps two views of its key: the *desired* value (what the northbound wants, or what
the base value derives) with its dependencies, and the *applied* value (what the scheduler
believes exists in the southbound) with the dependencies it had when applied. Keeping both is
what lets a transaction compute "what must change" locally, and lets a deletion cascade follow
the dependencies that really hold in the southbound rather than the requested ones.

:class:`Presence` answers "does key K exist?" for a hypothetical southbound (the current one,
minus keys about to be deleted, plus keys planned to be created); planning and the safety checks
before every call both use it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from itertools import chain

import attrs
import structlog

from contivpp.reconcile.api import AnyDescriptor, Dependency, Key, Origin
from contivpp.reconcile.deps import (
    DependencyIndex,
    ProviderIndex,
    matches,
    prefixes_in,
    select,
)
from contivpp.reconcile.status import Operation, ValueState

_log = structlog.get_logger()


@attrs.define(slots=True, eq=False)
class Node:
    """One key. Mutable on purpose: the scheduler owns it and updates it in place."""

    key: Key
    descriptor: AnyDescriptor | None
    #: The key this value is derived from (None for base values).
    base: Key | None = None
    origin: Origin = Origin.NB
    # ---- requested ------------------------------------------------------------------
    desired: object | None = None
    #: INVALID or UNIMPLEMENTED when the desired value cannot be applied at all.
    problem: ValueState | None = None
    problem_error: BaseException | None = None
    desired_deps: tuple[Dependency, ...] = ()
    desired_derived: tuple[Key, ...] = ()
    # ---- applied ----------------------------------------------------------------------
    available: bool = False
    applied: object | None = None
    metadata: object = None
    applied_deps: tuple[Dependency, ...] = ()
    # ---- outcome ----------------------------------------------------------------------
    state: ValueState = ValueState.NONEXISTENT
    error: BaseException | None = None
    missing: tuple[str, ...] = ()
    last_op: Operation | None = None
    attempts: int = 0

    @property
    def wanted(self) -> bool:
        """The value should exist in the southbound (requested, valid, implemented)."""
        return self.desired is not None and self.problem is None

    @property
    def is_property(self) -> bool:
        """A derived value without descriptor: it exists only as a dependency target."""
        return self.base is not None and self.descriptor is None

    def in_sync(self) -> bool:
        """The applied value is equivalent to the desired one."""
        if not self.available or self.desired is None:
            return False
        if self.descriptor is None:
            return bool(self.applied == self.desired)
        try:
            return bool(self.descriptor.equivalent(self.key, self.applied, self.desired))
        except Exception as exc:  # treat as "different": the worst case is a needless update
            _log.error("reconcile_equivalent_failed", key=self.key, error=repr(exc))
            return False

    def needs_recreate(self) -> bool:
        """Changing the applied value into the desired one needs delete + create."""
        if self.descriptor is None:
            return False  # a property changes without southbound calls
        if not self.descriptor.supports_update:
            return True
        try:
            return bool(
                self.descriptor.update_with_recreate(
                    self.key, self.applied, self.desired, self.metadata
                )
            )
        except Exception as exc:  # recreate is always correct, only slower
            _log.error("reconcile_update_with_recreate_failed", key=self.key, error=repr(exc))
            return True


class Graph:
    """All nodes plus the indexes that make local questions cheap."""

    def __init__(self) -> None:
        self.nodes: dict[Key, Node] = {}
        self._children: dict[Key, set[Key]] = {}
        self._by_descriptor: dict[str, set[Key]] = {}
        self._deps = DependencyIndex()
        self.providers = ProviderIndex()

    def get(self, key: Key) -> Node | None:
        return self.nodes.get(key)

    def add(self, key: Key, descriptor: AnyDescriptor | None, base: Key | None = None) -> Node:
        node = Node(key=key, descriptor=descriptor, base=base)
        self.nodes[key] = node
        if base is not None:
            self._children.setdefault(base, set()).add(key)
        if descriptor is not None:
            self._by_descriptor.setdefault(descriptor.name, set()).add(key)
        return node

    def drop(self, node: Node) -> None:
        """Forget a node (it must not exist in the southbound any more)."""
        if node.available:
            self.set_available(node, False)
        del self.nodes[node.key]
        self._deps.index(node.key, ())
        self.providers.forget(node.key)
        if node.base is not None:
            siblings = self._children.get(node.base)
            if siblings is not None:
                siblings.discard(node.key)
                if not siblings:
                    del self._children[node.base]
        if node.descriptor is not None:
            keys = self._by_descriptor.get(node.descriptor.name)
            if keys is not None:
                keys.discard(node.key)

    def set_descriptor(self, node: Node, descriptor: AnyDescriptor | None) -> None:
        """Bind a node to a descriptor registered after the node was created."""
        if node.descriptor is not None:
            keys = self._by_descriptor.get(node.descriptor.name)
            if keys is not None:
                keys.discard(node.key)
        node.descriptor = descriptor
        if descriptor is not None:
            self._by_descriptor.setdefault(descriptor.name, set()).add(node.key)

    def children(self, key: Key) -> Collection[Key]:
        """Keys of the values derived from ``key`` that the graph knows."""
        return self._children.get(key, ())

    def keys_of(self, descriptor_name: str) -> Collection[Key]:
        return self._by_descriptor.get(descriptor_name, ())

    def dependents(self, key: Key) -> set[Key]:
        """Keys whose desired or applied dependencies ``key`` may satisfy (a superset)."""
        return self._deps.dependents_of(key)

    def blocker(self, node: Node, presence: Presence, earlier: Collection[Key] = ()) -> Key | None:
        """A value that still needs ``node``, so ``node`` cannot be deleted in this wave.

        ``presence.gone`` holds the keys deleted before ``node`` *or alongside it* (in the
        same wave); ``earlier`` only those deleted by previous waves. A value deleted alongside
        still exists while the wave's calls are in flight, so it blocks its dependencies: it
        counts as a dependent, while its own dependencies are judged without the wave.
        """
        key = node.key
        presence.gone.add(key)
        try:
            for other in sorted(chain(self.children(key), self.dependents(key))):
                dependent = self.nodes.get(other)
                if dependent is None or not dependent.available or other in earlier:
                    continue
                if dependent.base == key:
                    return other
                if dependent.origin is Origin.SB:
                    continue
                for dep in dependent.applied_deps:
                    if (
                        matches(dep, key)
                        and presence.independent(key, other)  # else it never supported it
                        and not presence.label_ok(other, dep)
                    ):
                        return other
            return None
        finally:
            presence.gone.discard(key)

    def existing(self) -> Iterator[Key]:
        return (key for key, node in self.nodes.items() if node.available)

    def set_available(self, node: Node, available: bool) -> None:
        if node.available != available:
            node.available = available
            self.providers.changed(node.key, available)

    def set_desired_deps(self, node: Node, deps: tuple[Dependency, ...]) -> None:
        node.desired_deps = deps
        self._reindex(node)

    def set_applied(self, node: Node, value: object, deps: tuple[Dependency, ...]) -> None:
        node.applied = value
        node.applied_deps = deps
        self._reindex(node)

    def clear_applied(self, node: Node) -> None:
        self.set_available(node, False)
        node.metadata = None
        self.set_applied(node, None, ())

    def _reindex(self, node: Node) -> None:
        deps = node.applied_deps + node.desired_deps
        self._deps.index(node.key, deps)
        if any(d.key is None for d in deps):
            self.providers.watch(node.key, deps, self.existing())
        else:
            self.providers.forget(node.key)

    def presence(self, gone: set[Key] | None = None, created: set[Key] | None = None) -> Presence:
        return Presence(self, set() if gone is None else gone, created)


class Presence:
    """Existence of keys in a hypothetical southbound: existing - ``gone`` + ``created``."""

    def __init__(self, graph: Graph, gone: set[Key], created: set[Key] | None) -> None:
        self.graph = graph
        self.gone = gone
        self.created: set[Key] = set() if created is None else created
        self._created_by_prefix: dict[str, list[Key]] = {}
        for key in sorted(self.created):
            self._index_created(key)

    def has(self, key: Key) -> bool:
        if key in self.created:
            return True
        node = self.graph.nodes.get(key)
        return node is not None and node.available and key not in self.gone

    def add_created(self, key: Key) -> None:
        self.created.add(key)
        self._index_created(key)

    def _index_created(self, key: Key) -> None:
        for prefix in prefixes_in(key, self.graph.providers.prefixes()):
            self._created_by_prefix.setdefault(prefix, []).append(key)

    def label_ok(self, dependent: Key, dep: Dependency) -> bool:
        """``dep`` of ``dependent`` is satisfied.

        Neither a value nor anything derived from it can satisfy its dependencies: derived
        values only exist once their base does, so such support would be circular (and would
        make the value impossible to delete in order).
        """
        if dep.key is not None:
            return self.has(dep.key) and self.independent(dep.key, dependent)
        for key in self.graph.providers.providers(dependent, dep):
            if key not in self.gone and self.independent(key, dependent):
                return True
        for prefix in dep.any_of_prefixes:
            if any(self.independent(k, dependent) for k in self._created_by_prefix.get(prefix, ())):
                return True
        if dep.any_of_selector is not None:
            selector, scope = dep.any_of_selector, dep.selector_scope
            if scope in self.graph.providers.prefixes():
                created: Iterable[Key] = self._created_by_prefix.get(scope, ())
            else:
                created = (k for k in self.created if k.startswith(scope))
            return any(self.independent(k, dependent) and select(selector, k) for k in created)
        return False

    def independent(self, provider: Key, dependent: Key) -> bool:
        """``provider`` is neither ``dependent`` nor derived (transitively) from it."""
        nodes = self.graph.nodes
        key: Key | None = provider
        while key is not None:
            if key == dependent:
                return False
            node = nodes.get(key)
            key = node.base if node is not None else None
        return True

    def missing(self, dependent: Key, deps: tuple[Dependency, ...]) -> tuple[str, ...]:
        """Labels of ``deps`` that are not satisfied, in declaration order, without repeats."""
        labels: list[str] = []
        for dep in deps:
            if dep.label not in labels and not self.label_ok(dependent, dep):
                labels.append(dep.label)
        return tuple(labels)

    def satisfied(self, dependent: Key, deps: tuple[Dependency, ...]) -> bool:
        return all(self.label_ok(dependent, dep) for dep in deps)
