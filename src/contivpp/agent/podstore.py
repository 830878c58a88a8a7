"""The node's local record of the pods it wired, so an agent restart keeps every address.

kubelet does not re-run CNI ADD for running pods when the agent restarts, so the agent must
remember them itself: which sandbox, which netns, which address. The record lives on local
disk (not only in etcd) so it also survives etcd losing its data. It is rewritten atomically
(write + rename) whenever the set of wired pods changes, and is private (0600): it maps pods
to addresses and network namespaces.

It also keeps the allocator's round-robin position (``last_allocated``), the only other state
a new pod's address depends on: without it a restarted agent would derive the position from
the restored pods and could hand out an address released just before the restart (Contiv
#573 / #641: the new pod inherits the old pod's policies and connections).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import structlog

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
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask, and a leftover .tmp may have had other bits
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def load_position(path: Path) -> AllocatorPositionRestored | None:
    """The allocator position to restore after the pods, or None (none saved, or unreadable).

    A missing or bad position is not fatal: the allocator then continues after the highest
    restored address, as it did before positions were saved.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("pod_store_unreadable", path=str(path), error=str(exc))
        return None
    last = data.get("last_allocated") if isinstance(data, dict) else None
    if last is None:
        return None
    if not isinstance(last, str) or not is_ipv4(last):
        log.error("allocator_position_skipped", path=str(path), value=repr(last))
        return None
    return AllocatorPositionRestored(last)


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
