"""The KV scheduler: keeps the southbound (VPP, Linux) equal to a desired key/value set.

Modelled on ligato vpp-agent's kvscheduler. The scheduler knows nothing about VPP: every object
kind is a :class:`Descriptor` that says how to validate, create, update, delete and retrieve its
values, what they depend on and what they derive. The :class:`Scheduler` orders operations
(dependencies first, dependents and derived values deleted first), runs independent ones
concurrently, retries failures with back-off, resyncs with the southbound and records history.
This package imports nothing from ``vpp/``, ``renderers/`` or ``ksr/``.
"""

from contivpp.reconcile.api import (
    AnyDescriptor,
    Correlated,
    Dependency,
    Descriptor,
    Key,
    KeyValue,
    Origin,
    Retrieved,
)
from contivpp.reconcile.clock import Clock, LoopClock
from contivpp.reconcile.history import Drift, DriftKind, OpRecord, TxnKind, TxnRecord
from contivpp.reconcile.resync import ResyncKind
from contivpp.reconcile.retry import DEFAULT_RETRY, RetryPolicy
from contivpp.reconcile.scheduler import Scheduler
from contivpp.reconcile.status import Operation, ValueState, ValueStatus

__all__ = [
    "DEFAULT_RETRY",
    "AnyDescriptor",
    "Clock",
    "Correlated",
    "Dependency",
    "Descriptor",
    "Drift",
    "DriftKind",
    "Key",
    "KeyValue",
    "LoopClock",
    "OpRecord",
    "Operation",
    "Origin",
    "ResyncKind",
    "Retrieved",
    "RetryPolicy",
    "Scheduler",
    "TxnKind",
    "TxnRecord",
    "ValueState",
    "ValueStatus",
]
