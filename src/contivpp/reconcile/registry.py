"""Which descriptor handles a key, and in which order descriptors are read during a resync.

Descriptors are registered by the VPP layer at start-up; the scheduler needs two answers from
them many times: the descriptor of a new key (decided once per key, cached on its graph node) and
the retrieve order, where ``retrieve_after`` puts e.g. routes after interfaces so the interface
index map is fresh when routes are read back.
"""

from __future__ import annotations

from contivpp.errors import DescriptorError
from contivpp.reconcile.api import AnyDescriptor, Key


class Registry:
    """The registered descriptors, by name, by key and in retrieve order."""

    def __init__(self) -> None:
        self._by_name: dict[str, AnyDescriptor] = {}
        # Longest prefix first, so a specific descriptor wins over a broad one sharing a prefix;
        # registration order breaks ties (key_selector must then tell them apart).
        self._lookup: list[AnyDescriptor] = []
        self._retrieve: list[AnyDescriptor] = []

    def register(self, descriptor: AnyDescriptor) -> None:
        name = descriptor.name
        if not name:
            raise DescriptorError(f"descriptor {type(descriptor).__name__} has no name")
        if name in self._by_name:
            raise DescriptorError(f"descriptor {name!r} is already registered")
        by_name = {**self._by_name, name: descriptor}
        retrieve = _retrieve_order(by_name)
        self._by_name = by_name
        self._retrieve = retrieve
        self._lookup = sorted(
            by_name.values(), key=lambda d: -len(d.key_prefix)
        )  # sorted() is stable: equal prefixes keep registration order

    def lookup(self, key: Key) -> AnyDescriptor | None:
        for descriptor in self._lookup:
            if key.startswith(descriptor.key_prefix) and descriptor.key_selector(key):
                return descriptor
        return None

    def retrieve_order(self) -> list[AnyDescriptor]:
        return list(self._retrieve)


def _retrieve_order(by_name: dict[str, AnyDescriptor]) -> list[AnyDescriptor]:
    """Topological order of ``retrieve_after`` (names not registered are ignored), ties by name."""
    after = {
        name: sorted(dep for dep in d.retrieve_after if dep in by_name and dep != name)
        for name, d in by_name.items()
    }
    done: list[str] = []
    placed: set[str] = set()
    remaining = sorted(by_name)
    while remaining:
        ready = [name for name in remaining if all(dep in placed for dep in after[name])]
        if not ready:
            cycle = ", ".join(remaining)
            raise DescriptorError(f"retrieve_after forms a cycle among descriptors: {cycle}")
        done.extend(ready)
        placed.update(ready)
        remaining = [name for name in remaining if name not in placed]
    return [by_name[name] for name in done]
