"""The agent's Kubernetes input: the KSR's mirror in etcd, streamed as events.

A thin adapter from :class:`~contivpp.datastore.watcher.DatastoreWatcher` to the agent's
start-up sequence, which must know when the initial snapshot has been published (the startup
resync waits for it, so it converges VPP to a complete picture).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.watcher import DatastoreWatcher
from contivpp.events.types import Event


async def kube_source(
    store: EtcdStore, publish: Callable[[Event], Awaitable[None]], synced: asyncio.Event
) -> None:
    """Run the watcher until cancelled; set ``synced`` once the snapshot is published."""
    watcher = DatastoreWatcher(store, publish)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(watcher.run(), name="datastore-watch")
        await watcher.synced.wait()
        synced.set()
