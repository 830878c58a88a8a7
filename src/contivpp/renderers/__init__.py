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
    from contivpp.renderers.parts import all_facts, all_owners, is_shared, render_part

    desired: DesiredSet = {}
    owner_of: dict[Key, tuple[str, ...]] = {}
    facts = all_facts(state)
    for owner in sorted(all_owners(state)):
        for key, value in render_part(state, owner, facts).items():
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
    """Two owners want one key with different values. For a service frontend that is the
    cluster's configuration (two services may claim one external IP and port; the API does
    not refuse it): a warning, and the first owner wins. Anything else is a renderer bug."""
    from contivpp.renderers.parts import is_frontend

    holder_text, intruder_text = "/".join(holder), "/".join(intruder)
    if is_frontend(key):
        log.warning(
            "frontend_conflict",
            key=key,
            owner=holder_text,
            other_owner=intruder_text,
            error=f"{key} is claimed by {holder_text} and {intruder_text}; {holder_text} wins",
        )
        return
    message = f"{key} is rendered by two owners: {holder_text} and {intruder_text}"
    if strict:
        raise RenderError(message)
    log.error(
        "render_collision", key=key, owner=holder_text, other_owner=intruder_text, error=message
    )
