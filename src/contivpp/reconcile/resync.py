"""Reading the southbound back: refresh before a resync, and verification after a transaction.

The graph is only a belief about the southbound. VPP restarts, someone runs a CLI command, a
reply is lost: a *refresh* replaces the belief with what the descriptors' ``retrieve`` report, so
the following convergence creates what is missing, fixes what differs and deletes what nobody
wants. Only base values are retrieved; derived values are recomputed from the retrieved base
value, so a descriptor's ``retrieve`` must report the base value as it really is (for example a
bridge domain with the interfaces really in it).

Ownership of a retrieved value: ``Origin.SB`` values (VPP's defaults) are never changed;
anything else nobody asked for is treated as ours and deleted - unlike vpp-agent, which keeps
values of unknown origin, and so left stale interfaces behind after restarts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import structlog

from contivpp.errors import DescriptorError
from contivpp.reconcile.api import AnyDescriptor, Correlated, Dependency, Key, Origin, Retrieved
from contivpp.reconcile.graph import Node
from contivpp.reconcile.history import Drift, DriftKind
from contivpp.reconcile.state import SchedulerState
from contivpp.reconcile.status import ValueState

_log = structlog.get_logger()


class ResyncKind(enum.Enum):
    """``FULL``: descriptors that cannot retrieve are trusted (assumed in sync).
    ``DOWNSTREAM``: the southbound restarted, so their values are assumed gone and re-created.
    """

    FULL = "full"
    DOWNSTREAM = "downstream"


async def refresh(
    state: SchedulerState,
    *,
    wiped: bool,
    requested: Mapping[Key, object | None] | None = None,
) -> dict[str, BaseException]:
    """Replace the graph's view of the southbound with what the descriptors retrieve.

    ``requested`` are the values the resync is about to ask for: they are handed to
    ``retrieve`` as correlation hints too (vpp-agent does the same on a startup resync), so a
    descriptor that looks up only what it is told about (e.g. routes inside pod namespaces)
    finds what an earlier agent run left in place.

    Returns the descriptors whose ``retrieve`` failed (their values are left as they were).
    """
    graph = state.graph
    errors: dict[str, BaseException] = {}
    hints: dict[str, dict[Key, object]] = {}
    for key, value in (requested or {}).items():
        descriptor = state.registry.lookup(key)
        if value is not None and descriptor is not None:
            hints.setdefault(descriptor.name, {})[key] = value
    for descriptor in state.registry.retrieve_order():
        keys = sorted(k for k in graph.keys_of(descriptor.name) if graph.nodes[k].base is None)
        if not descriptor.supports_retrieve:
            if wiped:
                for key in keys:
                    _gone(state, graph.nodes[key])
            continue
        believed = {
            k: (v, graph.nodes[k].metadata)
            for k in keys
            if (v := _believed(graph.nodes[k])) is not None
        }
        for key, value in hints.get(descriptor.name, {}).items():
            if key not in believed:
                believed[key] = (value, None)
        correlate = [
            Correlated(key=k, value=v, metadata=m) for k, (v, m) in sorted(believed.items())
        ]
        try:
            retrieved = await descriptor.retrieve(correlate)
        except Exception as exc:  # skip this kind, as if in sync; the record shows why
            errors[descriptor.name] = exc
            _log.warning("reconcile_retrieve_failed", descriptor=descriptor.name, error=repr(exc))
            continue
        found: dict[Key, Retrieved] = {}
        for item in retrieved:
            problem = _foreign(state, descriptor, item)
            if problem is not None:
                errors[descriptor.name] = problem
                _log.error(
                    "reconcile_retrieve_invalid", descriptor=descriptor.name, error=str(problem)
                )
                continue
            found[item.key] = item
        for key in keys:
            if key not in found:
                _gone(state, graph.nodes[key])
        for key in sorted(found):
            _found(state, descriptor, found[key])
    return errors


def _believed(node: Node) -> object | None:
    return node.desired if node.desired is not None else node.applied


def _foreign(
    state: SchedulerState, descriptor: AnyDescriptor, item: Retrieved
) -> DescriptorError | None:
    """A retrieved item the descriptor had no business returning (it is ignored)."""
    if item.value is None or not descriptor.key_selector(item.key):
        return DescriptorError(
            f"descriptor {descriptor.name} retrieved {item.key!r}, which is not its value"
        )
    node = state.graph.get(item.key)
    if node is not None and node.base is not None:
        return DescriptorError(
            f"descriptor {descriptor.name} retrieved {item.key!r}, derived from {node.base}"
        )
    return None


def _gone(state: SchedulerState, node: Node) -> None:
    if node.available:
        state.graph.clear_applied(node)
        if node.state is ValueState.CONFIGURED:
            node.state = ValueState.MISSING
    for child in sorted(state.graph.children(node.key)):
        _gone(state, state.graph.nodes[child])


def _found(state: SchedulerState, descriptor: AnyDescriptor, item: Retrieved) -> None:
    graph = state.graph
    node = graph.get(item.key)
    if node is None:
        node = graph.add(item.key, descriptor)
    if node.desired is None:
        node.origin = Origin.SB if item.origin is Origin.SB else Origin.NB
    node.metadata = item.metadata
    _applied(state, node, item.value)


def _applied(state: SchedulerState, node: Node, value: object) -> None:
    """Mark ``node`` present with ``value``, and likewise the values it derives."""
    graph = state.graph
    graph.set_applied(node, value, _dependencies(node, value))
    graph.set_available(node, True)
    if node.origin is Origin.SB:
        node.state = ValueState.OBTAINED
    derived = _derived(node, value)
    for key in sorted(set(graph.children(node.key)) - derived.keys()):
        _gone(state, graph.nodes[key])
    for key in sorted(derived):
        child = graph.get(key)
        if child is None:
            child = graph.add(key, state.registry.lookup(key), base=node.key)
        elif child.base != node.key:
            _log.error("reconcile_retrieve_collision", key=key, base=node.key, owner=child.base)
            continue
        child.origin = node.origin
        _applied(state, child, derived[key])


def _dependencies(node: Node, value: object) -> tuple[Dependency, ...]:
    if node.origin is Origin.SB or node.descriptor is None:
        return ()  # the southbound's own values need nothing from us
    try:
        return tuple(node.descriptor.dependencies(node.key, value))
    except Exception as exc:
        _log.error("reconcile_dependencies_failed", key=node.key, error=repr(exc))
        return ()


def _derived(node: Node, value: object) -> dict[Key, object]:
    if node.descriptor is None:
        return {}
    try:
        return {
            kv.key: kv.value
            for kv in node.descriptor.derived_values(node.key, value)
            if kv.key != node.key and kv.value is not None
        }
    except Exception as exc:
        _log.error("reconcile_derived_values_failed", key=node.key, error=repr(exc))
        return {}


async def verify(
    state: SchedulerState, touched: Iterable[Key]
) -> tuple[list[Drift], dict[str, BaseException]]:
    """Re-read the touched base values and report where the southbound disagrees."""
    graph, registry = state.graph, state.registry
    by_descriptor: dict[str, list[Key]] = {}
    for key in touched:
        node = graph.get(key)
        if node is not None and node.base is not None:
            continue  # derived values are not retrievable
        descriptor = node.descriptor if node is not None else registry.lookup(key)
        if descriptor is not None and descriptor.supports_retrieve:
            by_descriptor.setdefault(descriptor.name, []).append(key)
    drift: list[Drift] = []
    errors: dict[str, BaseException] = {}
    for descriptor in registry.retrieve_order():
        keys = sorted(set(by_descriptor.get(descriptor.name, ())))
        if not keys:
            continue
        correlate = [
            Correlated(key=k, value=n.applied, metadata=n.metadata)
            for k in keys
            if (n := graph.get(k)) is not None and n.available
        ]
        try:
            actual = {item.key: item for item in await descriptor.retrieve(correlate)}
        except Exception as exc:
            errors[descriptor.name] = exc
            continue
        for key in keys:
            drift.extend(_compare(descriptor, key, graph.get(key), actual.get(key)))
    return drift, errors


def _compare(
    descriptor: AnyDescriptor, key: Key, node: Node | None, item: Retrieved | None
) -> list[Drift]:
    expected = node.applied if node is not None and node.available else None
    if expected is None:
        return [] if item is None else [Drift(key, DriftKind.UNEXPECTED, actual=item.value)]
    if item is None:
        return [Drift(key, DriftKind.MISSING, expected=expected)]
    try:
        same = bool(descriptor.equivalent(key, expected, item.value))
    except Exception:
        same = False
    return [] if same else [Drift(key, DriftKind.DIFFERS, expected=expected, actual=item.value)]
