"""The agent's Prometheus metrics, in a registry of its own (never the global one).

Operators watch that events flow (processed, rejected, lag), that transactions are fast
(duration), that VPP answers quickly and accepts our calls (call latency, errors), and what the
node holds (pods, services, ACLs, reconciler values per state). Names follow Prometheus'
conventions: counters end in ``_total``, durations are in seconds. Values that describe the
node's state are read at scrape time by :class:`AgentCollector`, so the event loop carries no
bookkeeping for them.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contivpp.controller import Controller
from contivpp.events.k8s import Kind
from contivpp.model import keys
from contivpp.reconcile import Scheduler, ValueState
from contivpp.vpp.client import Message, VPPClient


@attrs.define
class AgentMetrics:
    registry: CollectorRegistry = attrs.field(factory=CollectorRegistry)
    events: Counter = attrs.field(init=False)
    event_lag: Histogram = attrs.field(init=False)
    queue_depth: Gauge = attrs.field(init=False)
    txn_duration: Histogram = attrs.field(init=False)
    apply_errors: Counter = attrs.field(init=False)
    vpp_errors: Counter = attrs.field(init=False)
    vpp_calls: Histogram = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        reg = self.registry
        self.events = Counter(
            "contivpp_events_processed_total",
            "Events processed by the agent",
            ["type"],
            registry=reg,
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
            "contivpp_apply_errors_total",
            "Events whose configuration failed to apply",
            registry=reg,
        )
        self.vpp_errors = Counter(
            "contivpp_vpp_call_errors_total", "VPP API calls that failed", ["error"], registry=reg
        )
        self.vpp_calls = Histogram(
            "contivpp_vpp_call_duration_seconds",
            "Time from sending a VPP API request to its reply (dumps: to the last details)",
            ["message"],
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
            registry=reg,
        )


class MeasuredVPPClient(VPPClient):
    """The agent's VPP client, timing every request and dump by message name.

    A subclass rather than a hook in the client: only the agent exports metrics, and tools
    (trace, replay) keep the plain client.
    """

    def __init__(self, *args: Any, histogram: Histogram, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._histogram = histogram

    async def call(self, name: str, /, *, timeout: float | None = None, **fields: Any) -> Message:  # noqa: ASYNC109
        started = time.perf_counter()
        try:
            return await super().call(name, timeout=timeout, **fields)
        finally:
            self._histogram.labels(name).observe(time.perf_counter() - started)

    async def dump(
        self,
        name: str,
        /,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        **fields: Any,
    ) -> list[Message]:
        started = time.perf_counter()
        try:
            return await super().dump(name, timeout=timeout, **fields)
        finally:
            self._histogram.labels(name).observe(time.perf_counter() - started)


_COUNTED_KINDS: tuple[tuple[Kind, str, str], ...] = (
    ("Service", "contivpp_services", "Services known to the agent (all namespaces)"),
    ("NetworkPolicy", "contivpp_network_policies", "NetworkPolicies known to the agent"),
    ("Node", "contivpp_nodes", "Kubernetes Nodes known to the agent"),
)


class AgentCollector(Collector):
    """What the node holds, read from the controller and the scheduler when scraped."""

    def __init__(self, controller: Callable[[], Controller], scheduler: Scheduler) -> None:
        # The controller is read through a callable: tests and restarts may replace it.
        self._controller = controller
        self._scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        controller = self._controller()
        state = controller.state
        yield GaugeMetricFamily(
            "contivpp_local_pods", "Pods wired on this node", value=len(state.local_pods)
        )
        for kind, name, text in _COUNTED_KINDS:
            yield GaugeMetricFamily(name, text, value=len(state.of_kind(kind)))
        desired = self._scheduler.nb_values()
        yield GaugeMetricFamily(
            "contivpp_acls",
            "ACLs in the desired set (policy tables are shared between pods with equal rules)",
            value=sum(1 for key in desired if key.startswith(keys.ACL_PREFIX)),
        )
        yield GaugeMetricFamily(
            "contivpp_nat44_mappings",
            "NAT44 static and load-balancing mappings in the desired set (service frontends)",
            value=sum(
                1
                for key in desired
                if key.startswith((keys.NAT44_STATIC_PREFIX, keys.NAT44_LB_PREFIX))
            ),
        )
        per_state = Tally(status.state for status in self._scheduler.statuses().values())
        values = GaugeMetricFamily(
            "contivpp_scheduler_values",
            "Values known to the reconciler, by state (configured, pending, failed ...)",
            labels=["state"],
        )
        for value_state in ValueState:
            if value_state in (ValueState.NONEXISTENT, ValueState.REMOVED):
                continue  # never held in the graph
            values.add_metric([value_state.value], per_state.get(value_state, 0))
        yield values
        yield CounterMetricFamily(
            "contivpp_events_rejected",
            "Events the agent rejected (state unchanged; CNI callers got the error)",
            value=len(controller.rejections),
        )
        yield GaugeMetricFamily(
            "contivpp_node_id",
            "This node's ID (0 before one is allocated)",
            value=state.node_id or 0,
        )
