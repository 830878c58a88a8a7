"""A test cluster for the KSR and the agent's datastore watcher: real etcd, the fake API server,
KSR replicas and agent watchers in the test's event loop, and helpers that poll with deadlines.

Timings are shrunk (2 s leases, 0.1 s checks, 0.2 s bookmarks, short back-offs) so that
recoveries take well under a second and the whole folder runs in seconds. The fixtures that
build a :class:`Cluster` are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import encode_object
from contivpp.datastore.watcher import DatastoreWatcher
from contivpp.errors import DatastoreError, K8sObjectError
from contivpp.events.k8s import K8sObject, ObjectRef, parse_object, ref_of
from contivpp.events.types import Event, K8sDeleted, K8sUpserted
from contivpp.ksr import KSR, KSRConfig
from contivpp.ksr.kubeapi import KubeApi
from etcd_server import EtcdServer
from k8s_api_server import RESOURCE_TYPES, FakeKubeAPI


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 10.0
) -> None:
    """Poll ``predicate`` every 20 ms until true; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for: {what}")
        await asyncio.sleep(0.02)


@attrs.define(eq=False)
class RunningKSR:
    ksr: KSR
    task: asyncio.Task[None]
    store: EtcdStore
    kube: KubeApi

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.kube.close()
        await self.store.close()


@attrs.define(eq=False)
class Agent:
    """An agent's datastore watcher publishing into a list; ``state`` folds the events."""

    watcher: DatastoreWatcher
    task: asyncio.Task[None]
    store: EtcdStore
    events: list[Event] = attrs.field(factory=list)

    def state(self) -> dict[ObjectRef, K8sObject]:
        objects: dict[ObjectRef, K8sObject] = {}
        for event in self.events:
            if isinstance(event, K8sUpserted):
                objects[ref_of(event.obj)] = event.obj
            elif isinstance(event, K8sDeleted):
                objects.pop(event.ref, None)
        return objects

    def history(self, ref: ObjectRef) -> list[Event]:
        return [
            e
            for e in self.events
            if (isinstance(e, K8sUpserted) and ref_of(e.obj) == ref)
            or (isinstance(e, K8sDeleted) and e.ref == ref)
        ]

    def deletes(self) -> list[ObjectRef]:
        return [e.ref for e in self.events if isinstance(e, K8sDeleted)]

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.store.close()


def expected_etcd(api: FakeKubeAPI) -> dict[str, bytes]:
    """What etcd must hold for the API's current objects (malformed ones left out)."""
    out: dict[str, bytes] = {}
    for rt in RESOURCE_TYPES:
        for obj in api.list_objects(rt.kind):
            try:
                encoded = encode_object(obj)
            except K8sObjectError:
                continue
            out[encoded.key] = encoded.value
    return out


def expected_state(api: FakeKubeAPI) -> dict[ObjectRef, K8sObject]:
    out: dict[ObjectRef, K8sObject] = {}
    for rt in RESOURCE_TYPES:
        for obj in api.list_objects(rt.kind):
            try:
                parsed = parse_object(obj)
            except K8sObjectError:
                continue
            out[ref_of(parsed)] = parsed
    return out


@attrs.define(eq=False)
class Cluster:
    etcd: EtcdServer
    api: FakeKubeAPI
    kubeconfig: Path
    store: EtcdStore  # the test's own view of etcd
    ksrs: list[RunningKSR] = attrs.field(factory=list)
    agents: list[Agent] = attrs.field(factory=list)

    def ksr_config(self, identity: str = "ksr-a", **overrides: Any) -> KSRConfig:
        settings: dict[str, Any] = {
            "etcd_endpoints": self.etcd.endpoint,
            "kubeconfig": self.kubeconfig,
            "identity": identity,
            "lease_ttl": 2,
            "campaign_interval": 0.1,
            "etcd_timeout": 2.0,
            "watch_timeout": 5,
            "api_backoff_initial": 0.05,
            "api_backoff_max": 0.5,
            "check_interval": 0.1,
            "status_interval": 0.3,
            "etcd_backoff_max": 0.5,
        }
        settings.update(overrides)
        return KSRConfig(**settings)

    async def start_ksr(self, identity: str = "ksr-a", **overrides: Any) -> RunningKSR:
        config = self.ksr_config(identity, **overrides)
        kube = await KubeApi.connect(config.kubeconfig)
        store = EtcdStore(config.etcd_endpoints, timeout=config.etcd_timeout)
        ksr = KSR(config, store, kube)
        running = RunningKSR(
            ksr, asyncio.create_task(ksr.run(), name=f"test-{identity}"), store, kube
        )
        self.ksrs.append(running)
        return running

    async def wait_synced(self, running: RunningKSR, timeout: float = 10.0) -> None:
        """Until ``running`` leads, has listed every kind and has written everything."""

        def synced() -> bool:
            mirror = running.ksr.mirror
            return running.ksr.is_leader and mirror is not None and mirror.synced.is_set()

        await wait_until(synced, f"{running.ksr.config.identity} to be synced", timeout)

    async def start_agent(self, **kwargs: Any) -> Agent:
        store = EtcdStore([(self.etcd.host, self.etcd.port)], timeout=2.0)
        events: list[Event] = []

        async def publish(event: Event) -> None:
            events.append(event)

        kwargs.setdefault("backoff", Backoff(initial=0.05, maximum=0.5))
        kwargs.setdefault("status_poll", 0.05)
        watcher = DatastoreWatcher(store, publish, **kwargs)
        agent = Agent(watcher, asyncio.create_task(watcher.run(), name="test-agent"), store, events)
        self.agents.append(agent)
        return agent

    async def etcd_k8s(self) -> dict[str, bytes]:
        snap = await self.store.range(keys.K8S_PREFIX)
        return {kv.key: kv.value for kv in snap.kvs}

    async def wait_reflected(self, timeout: float = 10.0) -> None:
        """Until etcd holds exactly the API's objects."""

        async def equal() -> bool:
            try:
                return await self.etcd_k8s() == expected_etcd(self.api)
            except DatastoreError:
                return False  # etcd just restarted: our channel reconnects

        await wait_until(equal, "etcd to mirror the API", timeout)

    async def wait_agent(self, agent: Agent, timeout: float = 10.0) -> None:
        """Until the agent's folded events equal the API's objects."""
        await wait_until(
            lambda: agent.state() == expected_state(self.api), "agent state to match", timeout
        )

    async def close(self) -> None:
        for agent in self.agents:
            await agent.stop()
        for running in self.ksrs:
            await running.stop()
        await self.store.close()
        await self.api.stop()
