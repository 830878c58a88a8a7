"""A model southbound for the reconciler's property tests, and the descriptors that drive it.

The model is deliberately strict, like a real VPP: every write is checked against what exists
at that moment. A create whose dependency is absent, a delete that strands a dependent (or a
derived value), a create of something that exists or a write to a value the southbound owns is
recorded as a violation - unless the test has just drifted the southbound behind the
scheduler's back, in which case such calls simply fail, as VPP would, until the next resync.

Universe: base kinds ``a/`` (updatable, retrievable), ``b/`` (recreated on change,
retrievable), ``c/`` (updatable, not retrievable); derived ``d/<base>/<i>`` (own descriptor, not
retrievable) and ``p/<base>/<i>`` (properties: no descriptor). ``a/sys`` belongs to the
southbound (Origin.SB) and survives restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import attrs

from contivpp.errors import InvalidValueError
from contivpp.reconcile import (
    Correlated,
    Dependency,
    Descriptor,
    Key,
    KeyValue,
    Origin,
    Retrieved,
)

SYS = "a/sys"
BASE_KEYS = ("a/0", "a/1", "a/2", "b/0", "b/1", "b/2", "c/0", "c/1")
DEP_TARGETS = (
    "a/0",
    "a/1",
    "a/2",
    "b/0",
    "b/1",
    "c/0",
    SYS,
    "d/a/0/0",
    "d/b/0/1",
    "p/a/1/0",
    "p/c/0/1",
)
PREFIXES = ("a/", "b/", "d/", "p/")


@attrs.frozen
class Der:
    """A derived value spec: index, kind (``d``: own descriptor, ``p``: property), content."""

    index: int
    kind: str
    payload: int = 0
    deps: tuple[str, ...] = ()

    def key(self, base: str) -> str:
        return f"{self.kind}/{base}/{self.index}"


@attrs.frozen
class DVal:
    """The value of a derived ``d/`` key."""

    payload: int
    deps: tuple[str, ...] = ()


@attrs.frozen
class MVal:
    """A base value."""

    payload: int = 0
    deps: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    #: Scopes of "any key in scope ending in 1" selector dependencies.
    selected: tuple[str, ...] = ()
    derived: tuple[Der, ...] = ()
    invalid: bool = False

    def essence(self) -> tuple[object, ...]:
        """What the southbound must match: everything but the ``d/`` values it derives
        (those are separate objects with their own descriptor, compared on their own)."""
        props = frozenset(d for d in self.derived if d.kind == "p")
        return (self.payload, self.deps, self.prefixes, self.selected, props, self.invalid)


def dependencies(value: object) -> list[Dependency]:
    if isinstance(value, MVal):
        deps = [Dependency(label=f"dep {k}", key=Key(k)) for k in value.deps]
        deps += [Dependency(label=f"any {p}", any_of_prefixes=(p,)) for p in value.prefixes]
        # A new closure per call, as real descriptors build them (nat_lb): never the same id.
        deps += [
            Dependency(
                label=f"sel {p}", any_of_selector=lambda k: k.endswith("1"), selector_scope=p
            )
            for p in value.selected
        ]
        return deps
    if isinstance(value, DVal):
        return [Dependency(label=f"dep {k}", key=Key(k)) for k in value.deps]
    return []


def derived(key: str, value: object) -> list[KeyValue]:
    if not isinstance(value, MVal):
        return []
    out = []
    for der in value.derived:
        child: object = DVal(der.payload, der.deps) if der.kind == "d" else der.payload
        out.append(KeyValue(Key(der.key(key)), child))
    return out


def base_of(derived_key: str) -> str:
    """``d/a/0/1`` -> ``a/0``."""
    return derived_key[2:].rsplit("/", 1)[0]


def satisfied(dep: Dependency, owner: str, existing: set[str]) -> bool:
    """Whether ``dep`` of ``owner`` is met by ``existing``. Neither the owner nor what it
    derives counts (the scheduler's rule: derived values exist only once their base does, so
    such support is circular; a state held up by it alone could never be deleted in order)."""
    candidates = [k for k in existing if k != owner and not _derived_from(k, owner)]
    if dep.key is not None:
        return dep.key in candidates
    if any(k.startswith(p) for k in candidates for p in dep.any_of_prefixes):
        return True
    selector = dep.any_of_selector
    return selector is not None and any(
        k.startswith(dep.selector_scope) and selector(Key(k)) for k in candidates
    )


def _derived_from(key: str, owner: str) -> bool:
    return key[:2] in ("d/", "p/") and key[2:].startswith(f"{owner}/")


class SBFault(Exception):
    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class ModelSouthbound:
    def __init__(self, faults: Sequence[str | None] = ()) -> None:
        self.entries: dict[str, object] = {SYS: MVal(payload=7)}
        self.metadata: dict[str, int] = {SYS: 0}
        self.violations: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.drifted = False
        self._faults: Iterator[str | None] = iter(faults)
        self._index = 0

    def stop_faults(self) -> None:
        self._faults = iter(())

    # ---- what exists ------------------------------------------------------------------
    def existing(self, entries: dict[str, object] | None = None) -> set[str]:
        """Keys that exist: entries, plus properties of existing base values."""
        entries = self.entries if entries is None else entries
        keys = set(entries)
        for key, value in entries.items():
            if isinstance(value, MVal):
                keys.update(d.key(key) for d in value.derived if d.kind == "p")
        return keys

    def broken(self, entries: dict[str, object]) -> list[str]:
        """Entries whose dependencies (or base) are absent in ``entries``."""
        existing = self.existing(entries)
        problems = []
        for key, value in entries.items():
            if key.startswith("d/") and base_of(key) not in entries:
                problems.append(f"{key} (base gone)")
            for dep in dependencies(value):
                if not satisfied(dep, key, existing):
                    problems.append(f"{key} ({dep.label})")
        return problems

    def well_founded(self, entries: dict[str, object]) -> bool:
        """Every entry could have been created in some order (no purely circular support):
        the only states a real southbound can reach, since it creates one thing at a time."""
        nodes: dict[str, tuple[object, str | None]] = {}
        for key, value in entries.items():
            nodes[key] = (value, base_of(key) if key.startswith("d/") else None)
            if isinstance(value, MVal):
                for der in value.derived:
                    if der.kind == "p":
                        nodes[der.key(key)] = (der.payload, key)
        present: set[str] = set()
        changed = True
        while changed:
            changed = False
            for key, (value, base) in nodes.items():
                if key in present or (base is not None and base not in present):
                    continue
                if all(satisfied(dep, key, present) for dep in dependencies(value)):
                    present.add(key)
                    changed = True
        return set(entries) <= present

    # ---- writes -----------------------------------------------------------------------
    async def write(self, op: str, key: str, value: object | None) -> int | None:
        self.calls.append((op, key))
        await asyncio.sleep(0)  # let concurrent calls interleave
        problem = self._check(op, key, value)
        if problem is not None:
            if not self.drifted:
                self.violations.append(problem)
            raise SBFault(problem, retriable=False)
        fault = next(self._faults, None)
        if fault is not None:
            raise SBFault(f"injected {fault} failure on {op} {key}", retriable=fault == "retry")
        if op == "delete":
            del self.entries[key]
            del self.metadata[key]
            return None
        self.entries[key] = value
        if op == "create":
            self._index += 1
            self.metadata[key] = self._index
        return self.metadata[key]

    def _check(self, op: str, key: str, value: object | None) -> str | None:
        if key == SYS:
            return f"{op} {key}: the southbound owns it"
        exists = key in self.entries
        if op == "create" and exists:
            return f"create {key}: already exists"
        if op != "create" and not exists:
            return f"{op} {key}: does not exist"
        after = dict(self.entries)
        if op == "delete":
            del after[key]
        else:
            after[key] = value
            before = self.existing()
            missing = [d.label for d in dependencies(value) if not satisfied(d, key, before)]
            if key.startswith("d/") and base_of(key) not in self.entries:
                missing.append("base")
            if missing:
                return f"{op} {key} before its dependencies: {missing}"
        broken = sorted(set(self.broken(after)) - set(self.broken(self.entries)))
        if broken:
            return f"{op} {key} strands {broken}"
        return None

    # ---- reads ------------------------------------------------------------------------
    def retrieve(self, prefix: str) -> list[Retrieved]:
        found = []
        for key in sorted(self.entries):
            value = self.entries[key]
            if not key.startswith(prefix) or not isinstance(value, MVal):
                continue
            found.append(
                Retrieved(
                    key=Key(key),
                    value=self._as_seen(key, value),
                    metadata=self.metadata[key],
                    origin=Origin.SB if key == SYS else Origin.UNKNOWN,
                )
            )
        return found

    def _as_seen(self, key: str, value: MVal) -> MVal:
        """A base value as a dump reports it: its ``d/`` children as they really are."""
        props = [d for d in value.derived if d.kind == "p"]
        children = []
        for index in range(2):
            child = self.entries.get(f"d/{key}/{index}")
            if isinstance(child, DVal):
                children.append(Der(index, "d", child.payload, child.deps))
        return attrs.evolve(value, derived=tuple(sorted([*props, *children], key=repr)))

    # ---- drift (behind the scheduler's back) -------------------------------------------
    def drift_change(self, pick: int) -> None:
        keys = [k for k in sorted(self.entries) if k[0] in "ab" and k != SYS]
        if keys:
            key = keys[pick % len(keys)]
            value = self.entries[key]
            assert isinstance(value, MVal)
            self.entries[key] = attrs.evolve(value, payload=value.payload + 10)
            self.drifted = True

    def drift_remove(self, pick: int) -> None:
        """Remove a retrievable base value (and its ``d/`` children) if what remains could
        still have been built in some order."""
        candidates = []
        for key in sorted(self.entries):
            if key[0] not in "ab" or key == SYS:
                continue
            after = {
                k: v for k, v in self.entries.items() if k != key and not k.startswith(f"d/{key}/")
            }
            if self.well_founded(after):
                candidates.append(after)
        if candidates:
            kept = candidates[pick % len(candidates)]
            for key in set(self.entries) - set(kept):
                del self.entries[key]
                del self.metadata[key]
            self.drifted = True

    def drift_add(self, pick: int) -> None:
        keys = [k for k in (*BASE_KEYS, "a/9") if k[0] in "ab" and k not in self.entries]
        if keys:
            key = keys[pick % len(keys)]
            self.entries[key] = MVal(payload=99)
            self._index += 1
            self.metadata[key] = self._index
            self.drifted = True

    def wipe(self) -> None:
        """A southbound restart: only what the southbound creates itself survives."""
        self.entries = {SYS: self.entries[SYS]}
        self.metadata = {SYS: 0}


class ModelDescriptor(Descriptor[object, int]):
    def __init__(
        self,
        sb: ModelSouthbound,
        name: str,
        prefix: str,
        *,
        update: bool,
        retrieve: bool,
        retrieve_after: tuple[str, ...] = (),
    ) -> None:
        self.sb = sb
        self.name = name
        self.key_prefix = prefix
        self.supports_update = update
        self.supports_retrieve = retrieve
        self.retrieve_after = retrieve_after

    def validate(self, key: Key, value: object) -> None:
        if isinstance(value, MVal) and value.invalid:
            raise InvalidValueError(key, "marked invalid", ("invalid",))

    def equivalent(self, key: Key, old: object, new: object) -> bool:
        if isinstance(old, MVal) and isinstance(new, MVal):
            return old.essence() == new.essence()
        return old == new

    def dependencies(self, key: Key, value: object) -> Sequence[Dependency]:
        return dependencies(value)

    def derived_values(self, key: Key, value: object) -> Sequence[KeyValue]:
        return derived(key, value)

    async def create(self, key: Key, value: object) -> int | None:
        return await self.sb.write("create", key, value)

    async def update(self, key: Key, old: object, new: object, metadata: int | None) -> int | None:
        return await self.sb.write("update", key, new)

    async def delete(self, key: Key, value: object, metadata: int | None) -> None:
        await self.sb.write("delete", key, None)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        return self.sb.retrieve(self.key_prefix)


def model_descriptors(sb: ModelSouthbound) -> list[ModelDescriptor]:
    return [
        ModelDescriptor(sb, "a", "a/", update=True, retrieve=True),
        ModelDescriptor(sb, "b", "b/", update=False, retrieve=True, retrieve_after=("a",)),
        ModelDescriptor(sb, "c", "c/", update=True, retrieve=False),
        ModelDescriptor(sb, "d", "d/", update=False, retrieve=False),
    ]


def expected_state(desired: dict[str, MVal]) -> tuple[dict[str, object], set[str], set[str]]:
    """The least fixpoint: what must exist for ``desired`` (plus ``a/sys``).

    Returns (southbound entries that must exist, every key that must be CONFIGURED including
    properties, keys that are INVALID).
    """
    nodes: dict[str, tuple[object, str | None]] = {}
    invalid = set()
    for key, value in desired.items():
        if value.invalid:
            invalid.add(key)
            continue
        nodes[key] = (value, None)
        for kv in derived(key, value):
            nodes[kv.key] = (kv.value, key)
    present = {SYS}
    changed = True
    while changed:
        changed = False
        for key in sorted(nodes):
            value, base = nodes[key]
            if key in present or (base is not None and base not in present):
                continue
            if all(satisfied(dep, key, present) for dep in dependencies(value)):
                present.add(key)
                changed = True
    entries = {k: nodes[k][0] for k in present if k != SYS and not k.startswith("p/")}
    return entries, present - {SYS}, invalid
