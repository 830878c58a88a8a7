"""The node's local record of the pods it wired, so an agent restart keeps every address.

kubelet does not re-run CNI ADD for running pods when the agent restarts, so the agent must
remember them itself: which sandbox, which netns, which address. The record lives on local
disk (not only in etcd) so it also survives etcd losing its data. It is rewritten atomically
(write + rename) whenever the set of wired pods changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import structlog

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
    tmp.write_text(json.dumps({"pods": records}, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


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
