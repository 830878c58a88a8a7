"""Pure renderers: cluster state + node config -> the desired key/value set.

No I/O, no clock, no randomness: the same state gives the same set, byte for byte. The set is
kept in parts, one per owner (``renderers.parts``); the agent re-renders only the parts an
event dirties (``contivpp.desired``), while :func:`render` renders every part from scratch: the
reference that replay, resync and the oracle test use.
"""

from __future__ import annotations

import structlog

from contivpp.errors import RenderError
from contivpp.events.state import ClusterState
from contivpp.reconcile.api import Key

DesiredSet = dict[Key, object]

log = structlog.get_logger("contivpp.renderers")


def render(state: ClusterState, *, strict: bool = False) -> DesiredSet:
    """The complete desired set of this node, keys sorted.

    Two owners rendering the same key is a renderer bug (unless the key is shared and the
    values are equal, see ``parts.is_shared``): ``strict`` raises
    :class:`~contivpp.errors.RenderError`; otherwise it is logged naming both owners and the
    first owner (in owner order) keeps the key, which is also what incremental rendering does.
    """
    from contivpp.renderers.parts import all_owners, is_shared, render_part

    desired: DesiredSet = {}
    owner_of: dict[Key, tuple[str, ...]] = {}
    for owner in sorted(all_owners(state)):
        for key, value in render_part(state, owner).items():
            holder = owner_of.setdefault(key, owner)
            if holder != owner:
                if not (is_shared(key) and desired[key] == value):
                    report_collision(key, holder, owner, strict=strict)
                continue
            desired[key] = value
    return dict(sorted(desired.items()))


def report_collision(
    key: Key, holder: tuple[str, ...], intruder: tuple[str, ...], *, strict: bool
) -> None:
    message = f"{key} is rendered by two owners: {'/'.join(holder)} and {'/'.join(intruder)}"
    if strict:
        raise RenderError(message)
    log.error("render_collision", key=key, owner=holder, other_owner=intruder, error=message)
