"""What the agent reads from etcd, as events: the KSR's Kubernetes mirror and other nodes.

Every agent publishes its node ID and VPP address under ``allocatedIDs/``, which lies inside
the KSR prefix the agent already watches; this translator turns the other nodes' records
into ``node.id`` / ``node.release`` events (so the VXLAN mesh follows the cluster) and
everything else into Kubernetes events. Ordering, reconnects, compaction and data loss are
the :class:`~contivpp.datastore.watcher.DatastoreWatcher`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.agent.nodeid import NodeRecord
from contivpp.datastore import keys
from contivpp.datastore.watcher import K8sTranslator
from contivpp.errors import InputError
from contivpp.events.types import Event, NodeIDAllocated, NodeIDReleased


class AgentTranslator:
    """Kubernetes objects as the KSR wrote them, plus other nodes' ID records."""

    def __init__(self, self_name: str) -> None:
        self.self_name = self_name
        self.k8s = K8sTranslator()
        self.nodes: dict[int, NodeRecord] = {}  # what we told, by ID

    @staticmethod
    def _node_id(key: str) -> int | None:
        if not key.startswith(keys.ALLOCATED_IDS_PREFIX):
            return None
        try:
            return int(key.removeprefix(keys.ALLOCATED_IDS_PREFIX))
        except ValueError as exc:
            raise InputError(f"{key}: not a node-ID key") from exc

    def upsert(self, key: str, value: bytes) -> Sequence[Event]:
        if self._node_id(key) is None:
            return self.k8s.upsert(key, value)
        record = NodeRecord.from_json(key, value)
        events: list[Event] = []
        previous = self.nodes.get(record.id)
        if previous is not None and previous.name != record.name:
            events += self._released(record.id)  # the ID changed hands unseen (compaction)
        self.nodes[record.id] = record
        if record.name != self.self_name:
            events.append(NodeIDAllocated(record.name, record.id, record.ip_addresses))
        return events

    def delete(self, key: str) -> Sequence[Event]:
        node_id = self._node_id(key)
        if node_id is None:
            return self.k8s.delete(key)
        return self._released(node_id)

    def _released(self, node_id: int) -> list[Event]:
        record = self.nodes.pop(node_id, None)
        if record is None or record.name == self.self_name:
            return []
        return [NodeIDReleased(record.name, node_id)]
