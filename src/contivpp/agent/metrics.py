"""The agent's Prometheus metrics, in a registry of its own (never the global one).

Operators watch four things: that events flow (processed, lag), that transactions are fast
(duration), and that VPP accepts our calls (errors).
"""

from __future__ import annotations

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@attrs.define
class AgentMetrics:
    registry: CollectorRegistry = attrs.field(factory=CollectorRegistry)
    events: Counter = attrs.field(init=False)
    event_lag: Histogram = attrs.field(init=False)
    queue_depth: Gauge = attrs.field(init=False)
    txn_duration: Histogram = attrs.field(init=False)
    apply_errors: Counter = attrs.field(init=False)
    vpp_errors: Counter = attrs.field(init=False)
    pods: Gauge = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        reg = self.registry
        self.events = Counter(
            "contivpp_events_processed", "Events processed by the agent", ["type"], registry=reg
        )
        self.event_lag = Histogram(
            "contivpp_event_lag_seconds",
            "Time from publishing an event to the start of its handling",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
            registry=reg,
        )
        self.queue_depth = Gauge("contivpp_event_queue_depth", "Events waiting", registry=reg)
        self.txn_duration = Histogram(
            "contivpp_transaction_duration_seconds",
            "Reconciler transaction duration",
            ["kind"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=reg,
        )
        self.apply_errors = Counter(
            "contivpp_apply_errors", "Events whose configuration failed to apply", registry=reg
        )
        self.vpp_errors = Counter(
            "contivpp_vpp_call_errors", "VPP API calls that failed", ["error"], registry=reg
        )
        self.pods = Gauge("contivpp_local_pods", "Pods wired on this node", registry=reg)
