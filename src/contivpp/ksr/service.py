"""One KSR replica, assembled: campaign for leadership, then reflect until the term ends.

A term runs one mirror (the etcd writer), one reflector per kind and the lease keep-alive as
supervised tasks. Whatever ends the term (the lease expired, a fenced write was refused, the
election key changed, a task crashed) cancels all of them, resigns (revoking the lease so a
standby takes over at once) and campaigns again; a new term starts from a fresh list and a
fresh read of etcd, so nothing carries over that could be stale. ``run_ksr`` is the entry
point the CLI calls.
"""

from __future__ import annotations

import asyncio
import json

import structlog

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import EtcdStore
from contivpp.errors import DatastoreError
from contivpp.ksr.config import KSRConfig
from contivpp.ksr.election import Term, campaign, keep_alive, resign
from contivpp.ksr.http import serve_http
from contivpp.ksr.kubeapi import RESOURCES, KubeApi
from contivpp.ksr.mirror import Mirror, Watermark
from contivpp.ksr.reflector import Reflector
from contivpp.ksr.stats import KSRStats

log = structlog.get_logger("contivpp.ksr")


class KSR:
    """A KSR replica over an etcd store and a Kubernetes API connection (both caller-owned)."""

    def __init__(self, config: KSRConfig, store: EtcdStore, api: KubeApi) -> None:
        self.config = config
        self.stats = KSRStats()
        self.term: Term | None = None
        self.mirror: Mirror | None = None
        self._store = store
        self._api = api
        self._watermark = Watermark()

    @property
    def is_leader(self) -> bool:
        return self.term is not None and not self.term.ended.is_set()

    async def readiness(self) -> tuple[bool, str]:
        """(ready, why): a leader once synced; a standby while it can reach etcd."""
        mirror = self.mirror
        if self.is_leader and mirror is not None:
            if mirror.is_synced:
                return True, "leader, synced"
            return False, "leader, not synced yet (listing or writing to etcd)"
        try:
            async with asyncio.timeout(self.config.etcd_timeout):
                holder, _ = await self._store.get(keys.ELECTION_KEY)
        except (DatastoreError, TimeoutError) as exc:
            return False, f"standby, etcd unreachable: {exc or 'timeout'}"
        leader = _identity_of(holder.value) if holder is not None else "none"
        return True, f"standby, leader {leader}"

    async def run(self) -> None:
        """Campaign and reflect, term after term, until cancelled."""
        backoff = Backoff(initial=0.5, maximum=10.0)
        while True:
            term = await campaign(
                self._store,
                self.config.identity,
                self.config.lease_ttl,
                poll=self.config.campaign_interval,
            )
            self.stats.terms += 1
            self.term = term
            try:
                crashed = await self._serve(term)
            finally:
                self.term = None
                self.mirror = None
                await resign(self._store, term)
            if crashed:
                await backoff.sleep()
            else:
                backoff.reset()

    async def _serve(self, term: Term) -> bool:
        """Run one term until it ends; True if it ended because a task failed."""
        mirror = Mirror(self._store, term, self.config, self.stats, self._watermark)
        self.mirror = mirror
        tasks = [
            asyncio.create_task(mirror.run(), name="ksr-mirror"),
            asyncio.create_task(keep_alive(self._store, term), name="ksr-lease-keepalive"),
        ]
        for kind in self.config.kinds:
            reflector = Reflector(
                RESOURCES[kind], self._api, mirror.submit, self.stats.kind(kind), self.config
            )
            tasks.append(asyncio.create_task(reflector.run(), name=f"ksr-reflector-{kind}"))
        ended = asyncio.create_task(term.ended.wait(), name="ksr-term-ended")
        log.info(
            "ksr_term_started", identity=term.identity, term=term.revision, kinds=self.config.kinds
        )
        try:
            done, _ = await asyncio.wait([*tasks, ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, ended):
                task.cancel()
            await asyncio.gather(*tasks, ended, return_exceptions=True)
        crashed = False
        for task in done:
            if task is ended or task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, DatastoreError) and term.ended.is_set():
                continue  # the way a lost term ends the mirror
            if exc is None and term.ended.is_set():
                continue  # the keep-alive found the lease gone
            crashed = True
            log.error("ksr_task_failed", task=task.get_name(), term=term.revision, exc_info=exc)
            term.end(f"task {task.get_name()} failed")
        log.info("ksr_term_ended", term=term.revision, reason=term.reason)
        return crashed


def _identity_of(value: bytes) -> str:
    try:
        data = json.loads(value)
    except ValueError:
        return "unknown"
    identity = data.get("identity") if isinstance(data, dict) else None
    return identity if isinstance(identity, str) else "unknown"


async def run_ksr(config: KSRConfig) -> None:
    """Run a KSR replica until cancelled: the entry point of ``contivpp ksr``.

    Raises :class:`~contivpp.errors.ConfigError` if the Kubernetes configuration cannot be
    loaded; everything after that (API or etcd outages, lost leadership) is retried.
    """
    api = await KubeApi.connect(config.kubeconfig, context=config.kube_context)
    log.info(
        "ksr_starting",
        identity=config.identity,
        etcd=[f"{h}:{p}" for h, p in config.etcd_endpoints],
        kubeconfig=str(config.kubeconfig) if config.kubeconfig else "in-cluster",
        kinds=config.kinds,
    )
    try:
        async with EtcdStore(config.etcd_endpoints, timeout=config.etcd_timeout) as store:
            ksr = KSR(config, store, api)
            if config.http_address is None:
                await ksr.run()
                return
            host, port = config.http_address
            async with asyncio.TaskGroup() as group:
                group.create_task(ksr.run(), name="ksr")
                group.create_task(serve_http(ksr, host, port), name="ksr-http")
    finally:
        await api.close()
