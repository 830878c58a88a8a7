"""The node's local record of the pods it wired, so an agent restart keeps every address.

kubelet does not re-run CNI ADD for running pods when the agent restarts, so the agent must
remember them itself: which sandbox, which netns, which address. The record lives on local
disk (not only in etcd) so it also survives etcd losing its data. It is rewritten atomically
(write + rename) whenever the set of wired pods changes, by :class:`PodSaver` on a thread of
its own so the event loop never waits for the disk, and is private (0600): it maps pods to
addresses and network namespaces.

It also keeps the allocator's round-robin position (``last_allocated``), the only other state
a new pod's address depends on: without it a restarted agent would derive the position from
the restored pods and could hand out an address released just before the restart (Contiv
#573 / #641: the new pod inherits the old pod's policies and connections).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from contivpp import private
from contivpp.config import is_ipv4
from contivpp.events.state import LocalPod, ObjKey
from contivpp.events.types import AllocatorPositionRestored, CNIAdd
from contivpp.ipam import PodAllocator

log = structlog.get_logger("contivpp.agent.podstore")


def save_pods(
    path: Path, pods: Mapping[ObjKey, LocalPod], allocator: PodAllocator | None = None
) -> None:
    records = [
        {
            "namespace": p.namespace,
            "name": p.name,
            "container_id": p.container_id,
            "netns": p.netns,
            "ifname": p.ifname,
            "ip": p.ip,
        }
        for _, p in sorted(pods.items())
    ]
    data: dict[str, object] = {"pods": records}
    last = allocator.last_address if allocator is not None else None
    if last is not None:
        data["last_allocated"] = str(last)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", opener=private.opener) as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


Pods = Mapping[ObjKey, LocalPod]
Snapshot = tuple[Pods, PodAllocator | None]


class PodSaver:
    """Writes the pod record off the event loop, newest snapshot last, none after it lost.

    Snapshots are immutable, so a burst of changes collapses into one write of the newest (an
    older one would be overwritten anyway); writes run one at a time on a single thread, in
    submission order. :meth:`close` writes whatever is still pending before it returns.
    """

    def __init__(
        self,
        path: Path,
        save: Callable[[Path, Pods, PodAllocator | None], None] = save_pods,
    ) -> None:
        self.path = path
        self._save = save
        self._pending: Snapshot | None = None
        self._writing: asyncio.Task[None] | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pod-store")

    def submit(self, pods: Pods, allocator: PodAllocator | None = None) -> None:
        self._pending = (pods, allocator)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(
                self._drain(), name="pod-store-write"
            )

    def _write(self, snapshot: Snapshot) -> None:
        try:
            self._save(self.path, *snapshot)
        except OSError as exc:
            log.error("pod_store_write_failed", path=str(self.path), error=str(exc))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None:
            snapshot, self._pending = self._pending, None
            await loop.run_in_executor(self._thread, self._write, snapshot)

    async def flush(self) -> None:
        """Wait until every submitted snapshot is on disk."""
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)

    def close(self) -> None:
        """Blocking, for shutdown: finish the write in flight, then the one still pending."""
        pending, self._pending = self._pending, None
        if pending is not None:
            # Same single thread: runs after any write already in flight, never beside it.
            self._thread.submit(self._write, pending)
        self._thread.shutdown(wait=True)


def load_position(path: Path) -> AllocatorPositionRestored | None:
    """The allocator position to restore after the pods, or None (none saved, or unreadable).

    A missing or bad position is not fatal: the allocator then continues after the highest
    restored address, as it did before positions were saved.
    """
    data = _read(path)
    last = data.get("last_allocated") if data is not None else None
    if last is None:
        return None
    if not isinstance(last, str) or not is_ipv4(last):
        log.error("allocator_position_skipped", path=str(path), value=repr(last))
        return None
    return AllocatorPositionRestored(last)


def _read(path: Path) -> dict[str, object] | None:
    """The store's top-level object; None (logged) if absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
        log.error("pod_store_unreadable", path=str(path), error=str(exc))
        return None
    if not isinstance(data, dict):
        log.error("pod_store_unreadable", path=str(path), error="not a JSON object")
        return None
    return data


_TEXT_FIELDS = ("container_id", "netns", "ifname", "namespace", "name")


def _pod_event(record: object) -> CNIAdd:
    """One record as the event that restores it; ValueError names the bad field."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    for field in _TEXT_FIELDS:
        value = record.get(field)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{field!r} must be a non-empty string")
    ip = record.get("ip", "")
    if not isinstance(ip, str) or (ip and not is_ipv4(ip)):
        raise ValueError("'ip' must be an IPv4 address")
    return CNIAdd(
        container_id=record["container_id"],
        netns=record["netns"],
        ifname=record["ifname"],
        pod_namespace=record["namespace"],
        pod_name=record["name"],
        ip=ip,
    )


def load_pods(path: Path) -> list[CNIAdd]:
    """The pods to restore, as ``cni.add`` events that claim their previous address.

    A record that cannot be restored is skipped with an error log naming it and the field;
    the others are restored.
    """
    data = _read(path)
    records = data.get("pods", []) if data is not None else []
    if not isinstance(records, list):
        log.error("pod_store_unreadable", path=str(path), error="'pods' is not a list")
        return []
    events = []
    for index, record in enumerate(records):
        try:
            events.append(_pod_event(record))
        except ValueError as exc:
            log.error(
                "pod_record_skipped",
                path=str(path),
                index=index,
                record=repr(record),
                error=str(exc),
            )
    return events
