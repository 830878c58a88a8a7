"""CNI ADD wall time, exec to result, for contivpp-cni next to Debian's `bridge` plugin.

contivpp: a whole node runs (etcd, the VPP simulator with real Linux taps, the agent); each
pod is a fresh network namespace and the plugin is executed exactly as kubelet would, so the
time includes the real wiring (VPP calls through the reconciler, the tap in the netns, routes
and ARP inside it). bridge: Debian's containernetworking-plugins `bridge` with `host-local`
IPAM, ADD into a fresh netns. Both run the same number of sequential pods in the same run.
Needs root. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from contivpp.demo import cni, local_node

BRIDGE = "/usr/lib/cni/bridge"


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def timed_pods(count: int, add: Callable[[str, str], None]) -> list[float]:
    times = []
    namespaces = []
    try:
        for i in range(count):
            ns = f"cnibench-{uuid.uuid4().hex[:8]}"
            namespaces.append(ns)
            subprocess.run(["ip", "netns", "add", ns], check=True)
            start = time.perf_counter()
            add(f"pod-{i}", f"/var/run/netns/{ns}")
            times.append(time.perf_counter() - start)
    finally:
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    return times


def bridge_add(work: Path) -> Callable[[str, str], None]:
    conf = {
        "cniVersion": "1.0.0",
        "name": "benchnet",
        "type": "bridge",
        "bridge": "cnibench0",
        "isGateway": True,
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": "10.250.0.0/16", "dataDir": str(work / "ipam")},
    }

    def add(pod: str, netns: str) -> None:
        env = {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": uuid.uuid4().hex,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": "/usr/lib/cni",
            "PATH": os.environ["PATH"],
        }
        proc = subprocess.run(
            [BRIDGE], input=json.dumps(conf).encode(), env=env, capture_output=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"bridge ADD failed: {proc.stdout.decode()}")

    return add


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(percentile(times, 99) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 pods instead of 100")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/cni.py needs root (network namespaces)", file=sys.stderr)
        return 2
    count = 20 if args.quick else 100
    work = Path(tempfile.mkdtemp(prefix="cnibench-"))
    figures: dict[str, object] = {"pods": count}
    try:
        with local_node(work) as node:
            ours = timed_pods(count, lambda pod, ns: cni("ADD", node.cni_socket, pod, ns) and None)
        figures["contivpp"] = summary(ours)
        if os.path.exists(BRIDGE):
            theirs = timed_pods(count, bridge_add(work))
            figures["bridge"] = summary(theirs)
            figures["median_ratio"] = round(statistics.median(ours) / statistics.median(theirs), 2)
        else:
            figures["bridge"] = "not installed (apt-get install containernetworking-plugins)"
    finally:
        subprocess.run(["ip", "link", "del", "cnibench0"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"contivpp-cni ADD ({count} pods): {figures['contivpp']}")
    print(f"bridge ADD       ({count} pods): {figures['bridge']}")
    if "median_ratio" in figures:
        print(f"median ratio contivpp/bridge: {figures['median_ratio']}")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
