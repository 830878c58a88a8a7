"""Everything a transaction works on, gathered in one object.

The scheduler facade, the transaction pipeline and resync all operate on the same graph,
registry, desired view, retry queue and history; passing one :class:`SchedulerState` keeps their
signatures short and makes the ownership explicit: only code running under the scheduler's
transaction lock mutates it.
"""

from __future__ import annotations

import attrs

from contivpp.reconcile.api import Key
from contivpp.reconcile.clock import Clock
from contivpp.reconcile.graph import Graph
from contivpp.reconcile.history import History
from contivpp.reconcile.registry import Registry
from contivpp.reconcile.retry import RetryPolicy, RetryQueue


@attrs.define(eq=False)
class SchedulerState:
    """Mutable state shared by the transaction pipeline."""

    graph: Graph
    registry: Registry
    retries: RetryQueue
    policy: RetryPolicy
    clock: Clock
    history: History
    max_in_flight: int
    verify: bool
    seq: int = 0

    def nb_values(self) -> dict[Key, object]:
        """The northbound's desired set as last requested: the desired values of the graph's
        base nodes (the graph is its only copy)."""
        return {
            key: node.desired
            for key, node in self.graph.nodes.items()
            if node.base is None and node.desired is not None
        }
