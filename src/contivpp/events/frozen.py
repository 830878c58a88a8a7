"""Copy-with-changes for the frozen values the fold replaces on every event.

``attrs.evolve`` introspects the class on each call, which made up 40% of folding one event.
The state classes (``ClusterState``, ``Indices``) have no validators or converters, so a copy
is just their fields with some of them replaced.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def replace(obj: T, **changes: Any) -> T:
    """``attrs.evolve(obj, **changes)`` for slotted frozen classes without validators."""
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None:
        fields = attrs.fields(cls)  # type: ignore[arg-type]
        assert not any(f.validator or f.converter for f in fields), cls
        names = _FIELDS[cls] = tuple(f.name for f in fields)
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(obj, name))
    return new
