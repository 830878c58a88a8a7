"""The node's local record of the pods it wired, so an agent restart keeps every address.

kubelet does not re-run CNI ADD for running pods when the agent restarts, so the agent must
remember them itself: which sandbox, which netns, which address. The record lives on local
disk (not only in etcd) so it also survives etcd losing its data. It is rewritten atomically
(write + rename) whenever the set of wired pods changes, by :class:`PodSaver` on a thread of
its own so the event loop never waits for the disk. The file is readable by root only: it
names every pod's sandbox and address.
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
from contivpp.events.state import LocalPod, ObjKey
from contivpp.events.types import CNIAdd

log = structlog.get_logger("contivpp.agent.podstore")


def save_pods(path: Path, pods: Mapping[ObjKey, LocalPod]) -> None:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", opener=private.opener) as fh:
        fh.write(json.dumps({"pods": records}, indent=1, sort_keys=True))
    os.replace(tmp, path)


Pods = Mapping[ObjKey, LocalPod]


class PodSaver:
    """Writes the pod record off the event loop, newest snapshot last, none after it lost.

    Snapshots are immutable maps, so a burst of changes collapses into one write of the newest
    (an older one would be overwritten anyway); writes run one at a time on a single thread, in
    submission order. :meth:`close` writes whatever is still pending before it returns.
    """

    def __init__(self, path: Path, save: Callable[[Path, Pods], None] = save_pods) -> None:
        self.path = path
        self._save = save
        self._pending: Pods | None = None
        self._writing: asyncio.Task[None] | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pod-store")

    def submit(self, pods: Pods) -> None:
        self._pending = pods
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(
                self._drain(), name="pod-store-write"
            )

    def _write(self, pods: Pods) -> None:
        try:
            self._save(self.path, pods)
        except OSError as exc:
            log.error("pod_store_write_failed", path=str(self.path), error=str(exc))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None:
            pods, self._pending = self._pending, None
            await loop.run_in_executor(self._thread, self._write, pods)

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


def load_pods(path: Path) -> list[CNIAdd]:
    """The pods to restore, as ``cni.add`` events that claim their previous address."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.error("pod_store_unreadable", path=str(path), error=str(exc))
        return []
    events = []
    for record in data.get("pods", []):
        try:
            events.append(
                CNIAdd(
                    container_id=str(record["container_id"]),
                    netns=str(record["netns"]),
                    ifname=str(record["ifname"]),
                    pod_namespace=str(record["namespace"]),
                    pod_name=str(record["name"]),
                    ip=str(record.get("ip", "")),
                )
            )
        except (KeyError, TypeError) as exc:
            log.error("pod_record_skipped", path=str(path), record=repr(record), error=str(exc))
    return events
