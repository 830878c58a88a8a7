"""The KSR's HTTP endpoint: ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

Of two KSR replicas one leads and one waits, and an operator needs to see which, whether the
leader has etcd equal to the API, and how often it had to re-list or failed to write.
``/readyz`` is 200 for a leader once it is synced and for a standby while it can reach etcd
(so a rolling update can proceed while it waits), 503 with the reason otherwise. Metrics are
read from :class:`~contivpp.ksr.stats.KSRStats` at scrape time, so the reflecting code paths
carry no metrics calls of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contivpp.datastore import keys
from contivpp.webapi import make_application, probe_routes, start_site

if TYPE_CHECKING:
    from contivpp.ksr.service import KSR


class KSRCollector(Collector):
    """Turns one replica's counters into Prometheus metrics when scraped."""

    def __init__(self, ksr: KSR) -> None:
        self.ksr = ksr

    def collect(self) -> Iterator[Metric]:
        ksr, stats = self.ksr, self.ksr.stats
        mirror = ksr.mirror if ksr.is_leader else None
        yield _gauge("contivpp_ksr_leader", "1 while this replica is the leader", ksr.is_leader)
        yield _gauge(
            "contivpp_ksr_synced",
            "1 while this replica leads and etcd holds exactly the API's objects",
            mirror is not None and mirror.is_synced,
        )
        yield _counter("contivpp_ksr_leader_terms", "Leadership terms started", stats.terms)
        yield _counter("contivpp_ksr_etcd_txns", "Successful etcd write transactions", stats.txns)
        yield _counter("contivpp_ksr_etcd_errors", "Failed etcd calls", stats.etcd_errors)
        yield _counter(
            "contivpp_ksr_etcd_data_losses",
            "Times etcd was found to have lost data (revision back, keys gone)",
            stats.data_losses,
        )
        yield _counter(
            "contivpp_ksr_etcd_full_resyncs",
            "Times the whole etcd view was re-read and re-converged",
            stats.full_resyncs,
        )
        objects = GaugeMetricFamily(
            "contivpp_ksr_objects",
            "Objects of a kind reflected in etcd (reported by the leader only)",
            labels=["kind"],
        )
        writes = CounterMetricFamily(
            "contivpp_ksr_object_writes", "Keys written to etcd", labels=["kind", "op"]
        )
        per_kind = {
            "skipped": (CounterMetricFamily, "contivpp_ksr_objects_skipped", "Malformed objects"),
            "lists": (CounterMetricFamily, "contivpp_ksr_lists", "Complete lists of a kind"),
            "expired": (
                CounterMetricFamily,
                "contivpp_ksr_relists",
                "Re-lists forced by a 410 Gone (the watch history was gone)",
            ),
            "api_errors": (CounterMetricFamily, "contivpp_ksr_api_errors", "Failed API requests"),
            "watches": (CounterMetricFamily, "contivpp_ksr_watches", "Watch requests opened"),
            "bookmarks": (CounterMetricFamily, "contivpp_ksr_bookmarks", "Watch bookmarks seen"),
        }
        families = {
            attr: cls(name, text, labels=["kind"]) for attr, (cls, name, text) in per_kind.items()
        }
        for kind, kind_stats in stats.kinds.items():
            label = keys.KIND_FOLDERS[kind]
            if mirror is not None and kind in ksr.config.kinds:
                objects.add_metric([label], mirror.objects(kind))
            for op, value in (
                ("add", kind_stats.adds),
                ("update", kind_stats.updates),
                ("delete", kind_stats.deletes),
            ):
                writes.add_metric([label, op], value)
            for attr, family in families.items():
                family.add_metric([label], getattr(kind_stats, attr))
        yield objects
        yield writes
        yield from families.values()


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float(value))


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)


def make_app(ksr: KSR) -> web.Application:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KSRCollector(ksr))

    return make_application(probe_routes(ksr.readiness, registry))


async def start_http(ksr: KSR, host: str, port: int) -> web.AppRunner:
    """Start serving (port 0: any free port, see ``runner.addresses``); caller cleans up."""
    return await start_site(make_app(ksr), host, port, "--http-address")


async def serve_http(ksr: KSR, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = await start_http(ksr, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
