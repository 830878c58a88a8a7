"""Logical interface name <-> sw_if_index, for the VPP incarnation the client is talking to.

Descriptors refer to interfaces by the agent's logical names (``vpp/interface/<name>`` keys),
while every VPP message wants a sw_if_index that VPP chose and that a VPP restart invalidates.
The interface descriptor records each index it creates here; route, address, bridge, NAT and ACL
descriptors look names up here, so they stay small. The client clears the index when VPP
restarts and can rebuild it from ``sw_interface_dump``, where the agent stores the logical name
in each interface's tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from contivpp.errors import VPPError


@attrs.define
class InterfaceIndex:
    _by_name: dict[str, int] = attrs.field(factory=dict)
    _by_index: dict[int, str] = attrs.field(factory=dict)

    def put(self, name: str, sw_if_index: int) -> None:
        old = self._by_name.pop(name, None)
        if old is not None:
            self._by_index.pop(old, None)
        stale = self._by_index.pop(sw_if_index, None)
        if stale is not None:
            self._by_name.pop(stale, None)
        self._by_name[name] = sw_if_index
        self._by_index[sw_if_index] = name

    def remove(self, name: str) -> None:
        index = self._by_name.pop(name, None)
        if index is not None:
            self._by_index.pop(index, None)

    def lookup(self, name: str) -> int | None:
        return self._by_name.get(name)

    def require(self, name: str) -> int:
        """The index of ``name``; a retriable VPPError when VPP does not have it (yet)."""
        index = self._by_name.get(name)
        if index is None:
            raise VPPError(f"interface {name!r} does not exist in VPP")
        return index

    def name_of(self, sw_if_index: int) -> str | None:
        return self._by_index.get(sw_if_index)

    def clear(self) -> None:
        self._by_name.clear()
        self._by_index.clear()

    def rebuild(self, details: Iterable[Any]) -> None:
        """Replace the index from ``sw_interface_details``: tag if set, else VPP's name."""
        self.clear()
        for d in details:
            self.put(d.tag or d.interface_name, int(d.sw_if_index))

    def items(self) -> Iterator[tuple[str, int]]:
        return iter(sorted(self._by_name.items()))

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name
