"""Node-ID allocation in etcd, and the node's local memory of it.

Every node needs a small unique integer: it picks the node's pod, VPP-host, interconnect and
VXLAN addresses. Like Contiv, an agent claims the smallest free ID under ``allocatedIDs/``
with a put-if-absent transaction and retries on conflict, and keeps its ID across restarts.

Unlike Contiv, the agent also remembers its ID on local disk. After etcd lost its data
(Contiv issue #1492) an agent whose record is gone re-claims *its own* ID rather than the
smallest free one; if another node took that ID meanwhile, the agent refuses to start instead
of silently running two nodes with one pod subnet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import attrs
import structlog

from contivpp.datastore import keys
from contivpp.datastore.etcd import CreateRevisionIs, Delete, EtcdStore, Put
from contivpp.errors import DatastoreError, InputError, IPAMError

log = structlog.get_logger("contivpp.agent.nodeid")
MAX_ATTEMPTS = 20


@attrs.frozen
class NodeRecord:
    id: int
    name: str
    ip_addresses: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        body = {"id": self.id, "name": self.name, "ip_addresses": list(self.ip_addresses)}
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def from_json(cls, key: str, raw: bytes) -> NodeRecord:
        try:
            data = json.loads(raw)
        except ValueError as exc:  # also UnicodeDecodeError
            raise InputError(f"{key}: malformed node-ID record: {exc}") from exc
        # Typed, not coerced: str() / tuple() made names of numbers and addresses of letters.
        node_id = data.get("id") if isinstance(data, dict) else None
        name = data.get("name") if isinstance(data, dict) else None
        ips = data.get("ip_addresses", []) if isinstance(data, dict) else None
        if not isinstance(node_id, int) or isinstance(node_id, bool):
            raise InputError(f"{key}: malformed node-ID record: 'id' must be an integer")
        if not isinstance(name, str) or not name:
            raise InputError(f"{key}: malformed node-ID record: 'name' must be a non-empty string")
        if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
            raise InputError(f"{key}: malformed node-ID record: 'ip_addresses' must list strings")
        record = cls(node_id, name, tuple(ips))
        if keys.allocated_id_key(record.id) != key:
            raise InputError(f"{key}: record says ID {record.id}")
        return record


def read_local_id(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise IPAMError(f"{path}: not a node ID: {exc}") from exc


def write_local_id(path: Path, node_id: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{node_id}\n")
    os.replace(tmp, path)


async def list_nodes(store: EtcdStore) -> tuple[dict[int, NodeRecord], int]:
    result = await store.range(keys.ALLOCATED_IDS_PREFIX)
    records: dict[int, NodeRecord] = {}
    for kv in result.kvs:
        try:
            record = NodeRecord.from_json(kv.key, kv.value)
        except InputError as exc:
            log.warning("node_record_skipped", key=kv.key, error=str(exc))
            continue
        records[record.id] = record
    return records, result.revision


async def allocate_node_id(
    store: EtcdStore,
    name: str,
    ips_for: Callable[[int], tuple[str, ...]],
    *,
    local_file: Path | None,
) -> int:
    """Claim (or find again) this node's ID and publish its IPs (``ips_for(id)``, which
    depend on the ID). Raises IPAMError instead of taking an ID that would overlap."""
    remembered = read_local_id(local_file) if local_file is not None else None
    for _ in range(MAX_ATTEMPTS):
        records, _revision = await list_nodes(store)
        mine = [r for r in records.values() if r.name == name]
        if mine:
            node_id = min(r.id for r in mine)
            if remembered is not None and remembered != node_id:
                raise IPAMError(
                    f"etcd says node {name} has ID {node_id} but this node ran with ID "
                    f"{remembered}: refusing to change the pod subnet under running pods"
                )
            wanted = NodeRecord(node_id, name, ips_for(node_id))
            if records[node_id] != wanted:
                await store.put(keys.allocated_id_key(node_id), wanted.to_json())
            break
        if remembered is not None:
            holder = records.get(remembered)
            if holder is not None:
                raise IPAMError(
                    f"this node ran with ID {remembered}, which etcd now gives to {holder.name} "
                    "(etcd lost data?): refusing an overlapping pod subnet"
                )
            candidate = remembered
        else:
            candidate = next(i for i in range(1, len(records) + 2) if i not in records)
        key = keys.allocated_id_key(candidate)
        claimed = await store.txn(
            [CreateRevisionIs(key, 0)],
            [Put(key, NodeRecord(candidate, name, ips_for(candidate)).to_json())],
        )
        if claimed.succeeded:
            node_id = candidate
            log.info(
                "node_id_claimed", node=name, node_id=node_id, reclaimed=remembered is not None
            )
            break
        log.info("node_id_conflict", node=name, node_id=candidate)
    else:
        raise DatastoreError(f"could not claim a node ID for {name} in {MAX_ATTEMPTS} attempts")
    if local_file is not None:
        write_local_id(local_file, node_id)
    return node_id


async def release_node_ids(store: EtcdStore, name: str) -> list[int]:
    """Free the IDs held by ``name`` (its Kubernetes Node was deleted), like Contiv's KSR.

    Every agent may do this for the same node: each delete is conditional on the record
    still being the one that was read, so a node that re-joined meanwhile keeps its new one.
    """
    result = await store.range(keys.ALLOCATED_IDS_PREFIX)
    released = []
    for kv in result.kvs:
        try:
            record = NodeRecord.from_json(kv.key, kv.value)
        except InputError:
            continue
        if record.name != name:
            continue
        done = await store.txn([CreateRevisionIs(kv.key, kv.create_revision)], [Delete(kv.key)])
        if done.succeeded:
            released.append(record.id)
            log.info("node_id_released", node=name, node_id=record.id)
    return released
