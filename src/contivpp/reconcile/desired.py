"""Recording what the northbound asks for: validation, dependencies and derived values.

This is the only place that calls the pure half of a descriptor (``validate``,
``dependencies``, ``derived_values``) for requested values. It runs before any planning, touches
only the requested keys and the values they derive, and marks them *dirty* so the planner knows
where to look. A descriptor that raises here makes the value INVALID instead of aborting the
transaction, because one broken value must not block the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.errors import DescriptorError, InvalidValueError
from contivpp.reconcile.api import Dependency, Key, KeyValue, Origin
from contivpp.reconcile.graph import Graph, Node
from contivpp.reconcile.registry import Registry
from contivpp.reconcile.status import ValueState


def check_requestable(graph: Graph, key: Key) -> None:
    """Raise :class:`DescriptorError` if ``key`` cannot be set by the northbound."""
    node = graph.get(key)
    if node is not None and node.base is not None:
        raise DescriptorError(f"{key} is derived from {node.base}; it cannot be requested directly")


def request(
    graph: Graph, registry: Registry, key: Key, value: object | None, dirty: set[Key]
) -> None:
    """Record that the northbound wants ``key`` to be ``value`` (None: not to exist)."""
    node = graph.get(key)
    if node is None:
        if value is None:
            return
        node = graph.add(key, registry.lookup(key))
    node.desired = value
    if value is not None:
        node.origin = Origin.NB  # NB values overwrite values the southbound owned
    evaluate(graph, registry, node, dirty)


def evaluate(graph: Graph, registry: Registry, node: Node, dirty: set[Key]) -> None:
    """Recompute validity, dependencies and derived values of ``node``'s desired value."""
    dirty.add(node.key)
    node.problem = None
    node.problem_error = None
    deps: tuple[Dependency, ...] = ()
    derived: tuple[KeyValue, ...] = ()
    descriptor = node.descriptor
    if node.desired is not None:
        if descriptor is None:
            if node.base is None:
                node.problem = ValueState.UNIMPLEMENTED
        else:
            try:
                descriptor.validate(node.key, node.desired)
                deps = tuple(descriptor.dependencies(node.key, node.desired))
                derived = tuple(descriptor.derived_values(node.key, node.desired))
                _check_derived(node.key, derived)
            except InvalidValueError as exc:
                _invalid(node, exc)
                deps, derived = (), ()
            except Exception as exc:  # a descriptor bug: reported on the value, not raised
                error = DescriptorError(
                    f"descriptor {descriptor.name} failed on {node.key}: {exc!r}"
                )
                error.__cause__ = exc
                _invalid(node, error)
                deps, derived = (), ()
    collision = _collision(graph, node.key, derived)
    if collision is not None:
        _invalid(node, collision)
        deps, derived = (), ()
    graph.set_desired_deps(node, deps)
    _sync_derived(graph, registry, node, derived, dirty)


def _invalid(node: Node, error: BaseException) -> None:
    node.problem = ValueState.INVALID
    node.problem_error = error


def _check_derived(key: Key, derived: Sequence[KeyValue]) -> None:
    seen: set[Key] = set()
    for kv in derived:
        if kv.key == key or kv.key in seen:
            raise DescriptorError(f"{key}: derived key {kv.key} is repeated or names the value")
        if kv.value is None:
            raise DescriptorError(f"{key}: derived value {kv.key} is None")
        seen.add(kv.key)


def _collision(graph: Graph, key: Key, derived: Sequence[KeyValue]) -> DescriptorError | None:
    """A derived key already used by another value (that still wants it or still has it)."""
    for kv in derived:
        other = graph.get(kv.key)
        if other is None or other.base == key:
            continue
        if other.desired is not None or other.available:
            owner = "the northbound" if other.base is None else f"derived from {other.base}"
            return DescriptorError(f"{key}: derived key {kv.key} is already {owner}")
        graph.drop(other)  # a forgotten leftover nobody wants: take the key over
    return None


def _sync_derived(
    graph: Graph,
    registry: Registry,
    node: Node,
    derived: Sequence[KeyValue],
    dirty: set[Key],
) -> None:
    new = {kv.key: kv.value for kv in derived}
    for key in node.desired_derived:
        if key not in new:
            child = graph.get(key)
            if child is not None and child.base == node.key:
                child.desired = None
                evaluate(graph, registry, child, dirty)
    for key in sorted(new):
        child = graph.get(key)
        if child is None:
            child = graph.add(key, registry.lookup(key), base=node.key)
        child.origin = node.origin
        child.desired = new[key]
        evaluate(graph, registry, child, dirty)
    node.desired_derived = tuple(sorted(new))
