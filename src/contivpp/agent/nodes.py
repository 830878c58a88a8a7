"""Other nodes joining, leaving or changing, as events: a watch on ``allocatedIDs/``.

Every agent publishes its node ID and VPP address under ``allocatedIDs/<id>``; this watch
turns the other nodes' records into ``node.id`` / ``node.release`` events so the VXLAN mesh
follows the cluster. It survives etcd restarts (re-watch from the last revision seen) and
compaction (re-read the prefix and synthesize what changed meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from contivpp.agent.nodeid import NodeRecord, list_nodes
from contivpp.datastore import keys
from contivpp.datastore.etcd import Compacted, EtcdStore
from contivpp.errors import DatastoreError
from contivpp.events.types import Event, NodeIDAllocated, NodeIDReleased

log = structlog.get_logger("contivpp.agent.nodes")
Publish = Callable[[Event], Awaitable[None]]


class NodeWatcher:
    def __init__(self, store: EtcdStore, publish: Publish, self_name: str) -> None:
        self.store = store
        self.publish = publish
        self.self_name = self_name
        self.known: dict[int, NodeRecord] = {}
        self.revision = 0

    async def _converge(self, records: dict[int, NodeRecord]) -> None:
        """Publish the difference between what we told and ``records``, in ID order."""
        for node_id in sorted(self.known.keys() - records.keys()):
            await self._released(node_id)
        for node_id in sorted(records):
            if self.known.get(node_id) != records[node_id]:
                await self._allocated(records[node_id])

    async def _allocated(self, record: NodeRecord) -> None:
        previous = self.known.get(record.id)
        if previous is not None and previous.name != record.name:
            await self._released(record.id)  # the ID changed hands while we were not looking
        self.known[record.id] = record
        if record.name != self.self_name:
            await self.publish(NodeIDAllocated(record.name, record.id, record.ip_addresses))

    async def _released(self, node_id: int) -> None:
        record = self.known.pop(node_id, None)
        if record is not None and record.name != self.self_name:
            await self.publish(NodeIDReleased(record.name, node_id))

    async def resync(self) -> None:
        records, self.revision = await list_nodes(self.store)
        await self._converge(records)

    async def run(self, *, retry_delay: float = 0.5) -> None:
        """Snapshot, then watch forever (until cancelled)."""
        while True:
            try:
                if not self.revision:
                    await self.resync()
                await self._watch()
            except DatastoreError as exc:
                log.warning("node_watch_interrupted", error=str(exc), revision=self.revision)
                await asyncio.sleep(retry_delay)

    async def _watch(self) -> None:
        async for item in self.store.watch(keys.ALLOCATED_IDS_PREFIX, self.revision + 1):
            if isinstance(item, Compacted):
                log.info("node_watch_compacted", revision=item.revision)
                self.revision = 0  # re-read the prefix, publish only the difference
                return
            for ev in item.events:
                try:
                    node_id = int(ev.key.removeprefix(keys.ALLOCATED_IDS_PREFIX))
                    if ev.type == "PUT":
                        await self._allocated(NodeRecord.from_json(ev.key, ev.value))
                    else:
                        await self._released(node_id)
                except (ValueError, DatastoreError) as exc:
                    log.warning("node_record_skipped", key=ev.key, error=str(exc))
                # Only events move the resume point: an empty batch (watch created) can carry
                # a header revision ahead of events still to come.
                self.revision = max(self.revision, ev.mod_revision)
