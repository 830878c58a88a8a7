"""What each transaction planned and did, kept for a bounded number of transactions.

When a pod has no connectivity the first question is "what did the agent do to VPP, and when?".
Every transaction leaves one :class:`TxnRecord`: why it ran (trigger), what the plan was, which
operations ran with their before/after values and errors, and how long it took. The history is a
ring buffer so a long-running agent's memory stays bounded.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import attrs

from contivpp.errors import TransactionError
from contivpp.reconcile.api import Key
from contivpp.reconcile.status import Operation, ValueState


class TxnKind(enum.Enum):
    """Why a transaction ran."""

    #: ``commit``: a delta of the desired set.
    NB_DELTA = "nb-delta"
    #: ``commit_full``: a whole desired set replacing the previous one.
    NB_FULL = "nb-full"
    #: ``resync(FULL)``: read the southbound, then converge.
    FULL_RESYNC = "full-resync"
    #: ``resync(DOWNSTREAM)``: the southbound restarted; read it, re-apply everything.
    DOWNSTREAM_RESYNC = "downstream-resync"
    #: A scheduled retry of failed values (or values whose descriptor was just registered).
    RETRY = "retry"


@attrs.frozen
class OpRecord:
    """One operation, planned or executed."""

    op: Operation
    key: Key
    #: Wave number within the transaction (deletes first, then creates and updates).
    wave: int
    prev_value: object = None
    new_value: object = None
    prev_state: ValueState = ValueState.NONEXISTENT
    new_state: ValueState = ValueState.NONEXISTENT
    error: BaseException | None = None
    derived: bool = False
    #: A derived value without descriptor: bookkeeping only, no southbound call.
    property: bool = False
    #: Part of a delete + create of the same key.
    recreate: bool = False
    #: Part of undoing a failed revert-on-failure transaction.
    revert: bool = False
    #: Part of a retry transaction.
    retry: bool = False


class DriftKind(enum.Enum):
    """How the southbound disagrees with the graph after a transaction (verification mode)."""

    MISSING = "missing"
    UNEXPECTED = "unexpected"
    DIFFERS = "differs"


@attrs.frozen
class Drift:
    """One disagreement found by verification."""

    key: Key
    kind: DriftKind
    expected: object = None
    actual: object = None


def _frozen_mapping(value: Mapping[Key, BaseException]) -> Mapping[Key, BaseException]:
    return MappingProxyType(dict(value))


def _frozen_str_mapping(value: Mapping[str, BaseException]) -> Mapping[str, BaseException]:
    return MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class TxnRecord:
    """One transaction: trigger, plan, executed operations, errors, timing."""

    seq: int
    kind: TxnKind
    trigger: str
    #: Clock time when the transaction started, and its duration in seconds.
    started: float
    duration: float
    planned: tuple[OpRecord, ...] = ()
    executed: tuple[OpRecord, ...] = ()
    #: Values that ended FAILED or RETRYING in this transaction, with the error.
    errors: Mapping[Key, BaseException] = attrs.field(factory=dict, converter=_frozen_mapping)
    #: The keys of ``errors`` with a retry scheduled (the others are final).
    retrying: frozenset[Key] = frozenset()
    #: Descriptors whose ``retrieve`` failed (resync, verification), by descriptor name.
    retrieve_errors: Mapping[str, BaseException] = attrs.field(
        factory=dict, converter=_frozen_str_mapping
    )
    #: Disagreements found by verification mode (empty when it is off).
    drift: tuple[Drift, ...] = ()
    #: Southbound create / update / delete calls issued (retrieves not counted).
    calls: int = 0
    #: The transaction failed and was reverted (``revert_on_failure``).
    reverted: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, *, ignore_retrying: bool = False) -> None:
        """Raise :class:`TransactionError` if any value failed in this transaction.

        With ``ignore_retrying``, failures that have a retry scheduled do not count.
        """
        failures = {
            str(k): e
            for k, e in self.errors.items()
            if not (ignore_retrying and k in self.retrying)
        }
        if failures:
            raise TransactionError(self.seq, failures)


class History:
    """The last ``size`` transaction records, oldest first."""

    def __init__(self, size: int, on_record: Callable[[TxnRecord], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"history size must be >= 1, got {size}")
        self._records: deque[TxnRecord] = deque(maxlen=size)
        self._on_record = on_record

    def append(self, record: TxnRecord) -> None:
        self._records.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def snapshot(self) -> Sequence[TxnRecord]:
        return tuple(self._records)
