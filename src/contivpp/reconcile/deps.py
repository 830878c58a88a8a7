"""Indexes that answer dependency questions without scanning the whole graph.

The scheduler must stay fast with 100,000 values, so "who depends on key K?" and "does any
existing key satisfy prefix P?" cannot be scans. :class:`DependencyIndex` maps dependency targets
back to their dependents (exact keys, prefixes, selectors); :class:`ProviderIndex` keeps, for
every prefix or selector some dependency uses, the set of existing keys that satisfy it. A key's
prefixes are found by slicing the key (or by testing the few prefixes in use, whichever is
fewer), so both cost O(length of the key), not O(number of keys).

Selectors are arbitrary callables and cannot be indexed themselves, but their scope (the prefix
every key they may accept starts with) can: a selector is evaluated only against the keys of its
scope that appear or disappear, and a new selector is matched once against the existing keys of
its scope. Scopes are watched like prefixes. An unscoped selector (scope "") is evaluated on
every key, which made 1,000 LB mappings over 20,000 values 40x slower (issue 10): give a scope.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TypeVar

import structlog

from contivpp.reconcile.api import Dependency, Key

_log = structlog.get_logger()

Selector = Callable[[Key], bool]
#: One selector dependency of one dependent: (dependent, id of the selector, its scope).
_Slot = tuple[Key, int, str]
T = TypeVar("T", bound=str)


def prefixes_in(key: str, prefixes: Collection[str]) -> Iterator[str]:
    """The members of ``prefixes`` (a set or dict) that ``key`` starts with."""
    if len(prefixes) <= len(key) + 1:
        for prefix in prefixes:
            if key.startswith(prefix):
                yield prefix
    else:
        for end in range(len(key) + 1):
            prefix = key[:end]
            if prefix in prefixes:
                yield prefix


def select(selector: Selector, key: Key) -> bool:
    """Run a descriptor's selector; a selector that raises matches nothing (and is logged)."""
    try:
        return bool(selector(key))
    except Exception as exc:  # a descriptor bug must not corrupt the scheduler's indexes
        _log.error("reconcile_selector_failed", key=key, error=repr(exc))
        return False


def matches(dep: Dependency, key: Key) -> bool:
    """True when ``key`` is one of the keys that can satisfy ``dep``."""
    if dep.key is not None:
        return dep.key == key
    if any(key.startswith(prefix) for prefix in dep.any_of_prefixes):
        return True
    return (
        dep.any_of_selector is not None
        and key.startswith(dep.selector_scope)
        and select(dep.any_of_selector, key)
    )


def same_shape(a: tuple[Dependency, ...], b: tuple[Dependency, ...]) -> bool:
    """True when two dependency lists certainly name the same targets (selectors never do)."""
    if len(a) != len(b):
        return False
    return all(
        x.label == y.label
        and x.key == y.key
        and x.any_of_prefixes == y.any_of_prefixes
        and x.any_of_selector is None
        and y.any_of_selector is None
        for x, y in zip(a, b, strict=True)
    )


class DependencyIndex:
    """Target -> dependents, for exact keys, prefixes and selectors (by scope)."""

    def __init__(self) -> None:
        self._exact: dict[Key, set[Key]] = {}
        self._prefix: dict[str, set[Key]] = {}
        self._selectors: dict[str, dict[Key, tuple[Selector, ...]]] = {}
        self._scopes: dict[Key, tuple[str, ...]] = {}
        self._entries: dict[Key, tuple[frozenset[Key], frozenset[str]]] = {}

    def index(self, dependent: Key, deps: Iterable[Dependency]) -> None:
        """Index ``dependent`` under the targets of ``deps`` (replacing what it had)."""
        deps = tuple(deps)
        exact = frozenset(d.key for d in deps if d.key is not None)
        prefixes = frozenset(p for d in deps if d.key is None for p in d.any_of_prefixes)
        scoped: dict[str, list[Selector]] = {}
        for d in deps:
            if d.key is None and d.any_of_selector is not None:
                scoped.setdefault(d.selector_scope, []).append(d.any_of_selector)
        old_exact, old_prefixes = self._entries.get(dependent, (frozenset(), frozenset()))
        _move(self._exact, dependent, old_exact, exact)
        _move(self._prefix, dependent, old_prefixes, prefixes)
        for scope in self._scopes.pop(dependent, ()):
            members = self._selectors[scope]
            del members[dependent]
            if not members:
                del self._selectors[scope]
        for scope, selectors in scoped.items():
            self._selectors.setdefault(scope, {})[dependent] = tuple(selectors)
        if scoped:
            self._scopes[dependent] = tuple(scoped)
        if exact or prefixes:
            self._entries[dependent] = (exact, prefixes)
        else:
            self._entries.pop(dependent, None)

    def dependents_of(self, key: Key) -> set[Key]:
        """Every key that has a dependency ``key`` may satisfy (a superset is fine)."""
        found = set(self._exact.get(key, ()))
        if self._prefix:
            for prefix in prefixes_in(key, self._prefix):
                found |= self._prefix[prefix]
        for scope in prefixes_in(key, self._selectors):
            for dependent, selectors in self._selectors[scope].items():
                if any(select(s, key) for s in selectors):
                    found.add(dependent)
        found.discard(key)
        return found


def _move(index: dict[T, set[Key]], dependent: Key, old: frozenset[T], new: frozenset[T]) -> None:
    for target in old - new:
        members = index.get(target)
        if members is not None:
            members.discard(dependent)
            if not members:
                del index[target]
    for target in new - old:
        index.setdefault(target, set()).add(dependent)


class ProviderIndex:
    """For each prefix and selector in use, the existing keys that satisfy it."""

    def __init__(self) -> None:
        # Prefixes (and selector scopes) stay watched once seen: they come from descriptor code,
        # so there are few of them, and dropping one would cost a full scan when it is used again.
        self._prefix: dict[str, set[Key]] = {}
        self._selector: dict[_Slot, tuple[Selector, set[Key]]] = {}
        self._slots_by_scope: dict[str, set[_Slot]] = {}
        self._selectors_of: dict[Key, set[_Slot]] = {}

    def watch(self, dependent: Key, deps: Iterable[Dependency], existing: Iterable[Key]) -> None:
        """Start tracking providers for the prefixes and selectors of ``deps``.

        ``existing`` is iterated only when a new prefix or scope must be matched (O(N) once per
        prefix); a new selector is matched against the existing keys of its scope.
        """
        wanted: set[_Slot] = set()
        pending_prefixes = {
            p for d in deps if d.key is None for p in d.any_of_prefixes if p not in self._prefix
        }
        pending_selectors: list[tuple[_Slot, Selector]] = []
        for d in deps:
            if d.key is None and d.any_of_selector is not None:
                slot = (dependent, id(d.any_of_selector), d.selector_scope)
                wanted.add(slot)
                if slot not in self._selector:
                    pending_selectors.append((slot, d.any_of_selector))
                    if d.selector_scope not in self._prefix:
                        pending_prefixes.add(d.selector_scope)
        for slot in self._selectors_of.get(dependent, set()) - wanted:
            self._drop(slot)
        if wanted:
            self._selectors_of[dependent] = wanted
        else:
            self._selectors_of.pop(dependent, None)
        if pending_prefixes:
            keys = list(existing)
            for prefix in sorted(pending_prefixes):
                self._prefix[prefix] = {k for k in keys if k.startswith(prefix)}
        for slot, selector in pending_selectors:
            scope = slot[2]
            self._selector[slot] = (
                selector,
                {k for k in self._prefix[scope] if select(selector, k)},
            )
            self._slots_by_scope.setdefault(scope, set()).add(slot)

    def _drop(self, slot: _Slot) -> None:
        if self._selector.pop(slot, None) is not None:
            slots = self._slots_by_scope[slot[2]]
            slots.discard(slot)
            if not slots:
                del self._slots_by_scope[slot[2]]

    def forget(self, dependent: Key) -> None:
        for slot in self._selectors_of.pop(dependent, set()):
            self._drop(slot)

    def changed(self, key: Key, exists: bool) -> None:
        """Record that ``key`` appeared (``exists``) or disappeared."""
        if self._prefix:
            for prefix in prefixes_in(key, self._prefix):
                if exists:
                    self._prefix[prefix].add(key)
                else:
                    self._prefix[prefix].discard(key)
        if self._slots_by_scope:
            for scope in prefixes_in(key, self._slots_by_scope):
                for slot in self._slots_by_scope[scope]:
                    selector, members = self._selector[slot]
                    if not exists:
                        members.discard(key)
                    elif select(selector, key):
                        members.add(key)

    def prefixes(self) -> Collection[str]:
        return self._prefix.keys()

    def providers(self, dependent: Key, dep: Dependency) -> Iterator[Key]:
        """Existing keys that satisfy ``dep`` (any-of dependencies only)."""
        for prefix in dep.any_of_prefixes:
            yield from self._prefix.get(prefix, ())
        if dep.any_of_selector is not None:
            entry = self._selector.get((dependent, id(dep.any_of_selector), dep.selector_scope))
            if entry is not None:
                yield from entry[1]
