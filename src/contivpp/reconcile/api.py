"""The contract between the KV scheduler and the descriptors that plug into it.

The scheduler knows nothing about VPP: every object kind is one small descriptor that says how
to validate, create, update, delete and retrieve values of its keys, which keys a value depends
on and which values it derives. Values are immutable (frozen attrs classes, tuples, strings ...)
and compared with ``equivalent``; metadata is whatever ``create`` returns (e.g. a sw_if_index)
and is handed back to ``update`` / ``delete``.

Descriptors subclass :class:`Descriptor` and override what their object kind supports; the
defaults describe an object with no dependencies, no derived values, no in-place update (every
change is delete + create) and no way to read the southbound state back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Generic, NewType, TypeAlias, TypeVar

import attrs

Key = NewType("Key", str)

V = TypeVar("V")
M = TypeVar("M")


@attrs.frozen
class Dependency:
    """One labelled dependency of a value.

    Satisfied by one specific ``key``, or (when ``key`` is None) by any existing key that starts
    with one of ``any_of_prefixes`` or matches ``any_of_selector``. All labels of a value must
    be satisfied (AND); the alternatives inside one label are OR.

    A selector is only ever asked about keys that start with ``selector_scope``. The scope is
    indexed like a prefix, so a selector costs O(keys in its scope) instead of being run on
    every key of the graph; always give one (the empty scope, every key, is the slow case).
    """

    label: str
    key: Key | None = None
    any_of_prefixes: tuple[str, ...] = ()
    any_of_selector: Callable[[Key], bool] | None = attrs.field(default=None, eq=False)
    selector_scope: str = ""

    def __attrs_post_init__(self) -> None:
        if self.key is None and not self.any_of_prefixes and self.any_of_selector is None:
            raise ValueError(f"dependency {self.label!r} names no key, prefix or selector")


@attrs.frozen
class KeyValue:
    """A key with its value (a derived value, or an item of a desired set)."""

    key: Key
    value: object


class Origin(enum.Enum):
    """Who owns a value: northbound (we asked for it), southbound (found there), or unknown."""

    NB = "nb"
    SB = "sb"
    UNKNOWN = "unknown"


@attrs.frozen
class Retrieved:
    """One value as read back from the southbound by ``Descriptor.retrieve``."""

    key: Key
    value: object
    metadata: object = None
    origin: Origin = Origin.UNKNOWN


@attrs.frozen
class Correlated:
    """A value the scheduler believes should exist, given to ``retrieve`` to help matching."""

    key: Key
    value: object
    metadata: object = None


class Descriptor(Generic[V, M]):
    """How to manage the values of one object kind. Override what the kind supports.

    ``name`` must be unique; ``key_prefix`` is the prefix every key of this descriptor starts
    with (used for fast lookup); ``key_selector`` may narrow it further. ``retrieve_after``
    names descriptors whose values must be retrieved first during a resync (e.g. routes after
    interfaces, so the interface index map is fresh).
    """

    name: str = ""
    key_prefix: str = ""
    retrieve_after: tuple[str, ...] = ()
    #: True when the descriptor implements ``update``; otherwise every change is a recreate.
    supports_update: bool = False
    #: True when ``retrieve`` reads the southbound; otherwise resync trusts the graph.
    supports_retrieve: bool = False

    def key_selector(self, key: Key) -> bool:
        return key.startswith(self.key_prefix)

    # ---- pure ---------------------------------------------------------------------------
    def validate(self, key: Key, value: V) -> None:
        """Raise :class:`contivpp.errors.InvalidValueError` if the value cannot be applied."""

    def equivalent(self, key: Key, old: V, new: V) -> bool:
        return old == new

    def dependencies(self, key: Key, value: V) -> Sequence[Dependency]:
        return ()

    def derived_values(self, key: Key, value: V) -> Sequence[KeyValue]:
        return ()

    def update_with_recreate(self, key: Key, old: V, new: V, metadata: M | None) -> bool:
        return not self.supports_update

    def is_retriable(self, error: BaseException) -> bool:
        return bool(getattr(error, "retriable", True))

    # ---- southbound ---------------------------------------------------------------------
    async def create(self, key: Key, value: V) -> M | None:
        raise NotImplementedError(f"descriptor {self.name} cannot create {key}")

    async def update(self, key: Key, old: V, new: V, metadata: M | None) -> M | None:
        raise NotImplementedError(f"descriptor {self.name} cannot update {key}")

    async def delete(self, key: Key, value: V, metadata: M | None) -> None:
        raise NotImplementedError(f"descriptor {self.name} cannot delete {key}")

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        """Read the actual southbound state of this kind (non-derived values only)."""
        return ()


#: A descriptor of any value and metadata type. The scheduler holds descriptors of many kinds at
#: once and only passes each one back the values it produced, so this is the single place where
#: ``Any`` is the honest type: ``Descriptor`` is invariant in ``V`` and ``M`` (they appear both as
#: parameters and results), so no concrete ``Descriptor[X, Y]`` is a ``Descriptor[object, object]``.
AnyDescriptor: TypeAlias = Descriptor[Any, Any]
