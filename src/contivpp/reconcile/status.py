"""The per-key outcome users see: value states, operations and the status record.

Operators and the agent ask "what happened to key K?" far more often than they read a graph, so
the answer is one small frozen record per key with the state, the error that caused it, the
dependency labels it still waits for and the last operation tried. The states follow ligato
vpp-agent's ``ValueState`` so its documentation and debugging habits carry over.
"""

from __future__ import annotations

import enum

import attrs

from contivpp.reconcile.api import Key, Origin


class ValueState(enum.Enum):
    """Where a value stands. Transient states (MISSING, REMOVED) show up in history records."""

    #: Unknown to the scheduler (never requested, or removed and forgotten).
    NONEXISTENT = "nonexistent"
    #: Requested, but a dependency (or the value it derives from) does not exist yet.
    PENDING = "pending"
    #: Requested and applied; the southbound matches the request.
    CONFIGURED = "configured"
    #: Found in the southbound and owned by it; the scheduler never changes it.
    OBTAINED = "obtained"
    #: The last operation failed and will not be retried (see ``error``).
    FAILED = "failed"
    #: The last operation failed and a retry is scheduled.
    RETRYING = "retrying"
    #: The descriptor rejected the value; it is not applied and never retried.
    INVALID = "invalid"
    #: Requested, but no registered descriptor handles the key.
    UNIMPLEMENTED = "unimplemented"
    #: Believed configured, but a refresh did not find it in the southbound.
    MISSING = "missing"
    #: Deleted on request (reported in history; the key is then forgotten).
    REMOVED = "removed"


class Operation(enum.Enum):
    """A southbound operation (or, for properties, its bookkeeping-only equivalent)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@attrs.frozen
class ValueStatus:
    """The status of one key, as returned by ``Scheduler.status``."""

    key: Key
    state: ValueState = ValueState.NONEXISTENT
    origin: Origin = Origin.UNKNOWN
    #: The requested value (NB) or the one found in the southbound (SB).
    value: object = None
    #: Why the value is FAILED, RETRYING or INVALID.
    error: BaseException | None = None
    #: Dependency labels not satisfied (PENDING values); ``base <key>`` when the value it is
    #: derived from does not exist.
    missing: tuple[str, ...] = ()
    last_op: Operation | None = None
    #: Retries already made since the last success or the last new request.
    attempts: int = 0
    derived_from: Key | None = None
