"""KSR throughput and API-to-agent latency, with 10,000 pods in the cluster.

Three processes, as in a cluster: the test Kubernetes API server (``tests/k8s_api_server.py``,
seeded with a realistic cluster of 10,000 pods), one KSR replica (``run_ksr``) and, in this
process, an agent's ``DatastoreWatcher``, all against a real etcd (data on /dev/shm). Figures:

* initial reflection: objects/s written into etcd from the KSR's first to its last pod key
  (measured on etcd with count-only reads), and the time until the agent holds every pod;
* latency: one pod label changed through the API (an HTTP PUT, the clock starts just before
  it is sent) until the agent publishes the event carrying it; changes one at a time;
* burst: many label changes sent at once (32 in flight), end-to-end changes/s.

Figures, not a pass / fail test. Last line: one JSON object.

    python bench/ksr.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from contivpp.datastore import keys  # noqa: E402
from contivpp.datastore.etcd import EtcdStore  # noqa: E402
from contivpp.datastore.watcher import DatastoreWatcher  # noqa: E402
from contivpp.events.k8s import Pod  # noqa: E402
from contivpp.events.types import Event, K8sUpserted  # noqa: E402
from contivpp.logs import configure_logging  # noqa: E402
from etcd_server import EtcdServer  # noqa: E402
from k8s_api_server import pod  # noqa: E402

NAMESPACES = 10  # as seeded by k8s_api_server.seed

KSR_MAIN = """
import asyncio, sys
from contivpp.logs import configure_logging
from contivpp.ksr import KSRConfig, run_ksr
configure_logging("warning", True)
config = KSRConfig(etcd_endpoints=sys.argv[1], kubeconfig=sys.argv[2], identity="bench")
asyncio.run(run_ksr(config))
"""


def start_api(pods: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "k8s_api_server.py"), "--seed-pods", str(pods)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit("the test API server did not start")
    return proc, url


def write_kubeconfig(url: str, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "bench", "cluster": {"server": url}}],
                "users": [{"name": "bench", "user": {"token": "x"}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
                "current-context": "bench",
            }
        )
    )
    return path


class AgentProbe:
    """The agent side: a DatastoreWatcher whose events are timestamped on arrival."""

    def __init__(self, store: EtcdStore) -> None:
        self.pods: dict[tuple[str, str], Pod] = {}
        self.arrivals: dict[str, float] = {}  # label "bench" value -> arrival time
        self.changed = asyncio.Event()
        self.watcher = DatastoreWatcher(store, self.publish)

    async def publish(self, event: Event) -> None:
        if isinstance(event, K8sUpserted) and isinstance(event.obj, Pod):
            p = event.obj
            self.pods[(p.namespace, p.name)] = p
            mark = dict(p.labels).get("bench")
            if mark is not None:
                self.arrivals[mark] = time.perf_counter()
                self.changed.set()


def pod_body(i: int, mark: str) -> dict[str, Any]:
    obj = pod(
        f"pod-{i}",
        f"ns-{i % NAMESPACES}",
        ip=f"10.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 2}",
        node=f"node-{i % 10}",
        labels={"app": f"app-{i % 50}", "pod-template-hash": "5d8f7c9b4", "bench": mark},
        ports=(8080,),
    )
    obj["status"]["hostIP"] = f"192.168.16.{i % 10 + 1}"
    return obj


async def put_pod(session: aiohttp.ClientSession, url: str, i: int, mark: str) -> None:
    ns = f"ns-{i % NAMESPACES}"
    async with session.put(
        f"{url}/api/v1/namespaces/{ns}/pods/pod-{i}", json=pod_body(i, mark)
    ) as resp:
        if resp.status != 200:
            raise SystemExit(f"PUT pod-{i}: {resp.status} {await resp.text()}")


async def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def measure(
    etcd: EtcdServer, url: str, kubeconfig: Path, pods: int, samples: int, burst: int
) -> dict[str, float]:
    store = EtcdStore([(etcd.host, etcd.port)], timeout=10)
    probe = AgentProbe(EtcdStore([(etcd.host, etcd.port)], timeout=10))
    agent = asyncio.create_task(probe.watcher.run())
    started = time.perf_counter()
    ksr = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KSR_MAIN, etcd.endpoint, str(kubeconfig)
    )
    figures: dict[str, float] = {}
    try:
        # Initial reflection, seen on etcd: from the moment the KSR leads (it has started
        # and won the election; it lists next) until etcd holds every pod.
        elected = first = last = 0.0
        pod_prefix = keys.kind_prefix("Pod")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not elected:
                leader, _ = await store.get(keys.ELECTION_KEY)
                elected = time.perf_counter() if leader is not None else 0.0
            count, _ = await store.count(pod_prefix)
            now = time.perf_counter()
            if count and not first:
                first = now
            if count == pods:
                last = now
                break
            await asyncio.sleep(0.002)
        if not last or not elected:
            raise SystemExit("the KSR did not reflect every pod in time")
        figures["reflect_objects_per_s"] = pods / (last - elected)
        figures["reflect_s"] = last - elected
        figures["etcd_write_objects_per_s"] = pods / max(last - first, 1e-3)
        await wait_for(lambda: len(probe.pods) == pods, 120, "the agent to hold every pod")
        figures["ksr_start_to_agent_synced_s"] = time.perf_counter() - started

        async with aiohttp.ClientSession() as session:
            # Latency, one change at a time.
            latencies = []
            for n in range(samples):
                mark = f"l{n}"
                probe.changed.clear()
                t0 = time.perf_counter()
                await put_pod(session, url, (n * 7919) % pods, mark)
                while mark not in probe.arrivals:
                    await asyncio.wait_for(probe.changed.wait(), 30)
                    probe.changed.clear()
                latencies.append(probe.arrivals[mark] - t0)
            latencies.sort()
            figures["latency_median_ms"] = statistics.median(latencies) * 1000
            figures["latency_p99_ms"] = (
                latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            )
            figures["latency_max_ms"] = latencies[-1] * 1000

            # Burst: many changes at once, end to end.
            limit = asyncio.Semaphore(32)

            async def change(n: int) -> None:
                async with limit:
                    await put_pod(session, url, (n * 104729) % pods, f"b{n}")

            t0 = time.perf_counter()
            await asyncio.gather(*(change(n) for n in range(burst)))
            sent = time.perf_counter()
            await wait_for(
                lambda: all(f"b{n}" in probe.arrivals for n in range(burst)), 120, "burst"
            )
            done = time.perf_counter()
            figures["burst_changes_per_s"] = burst / (done - t0)
            figures["burst_api_puts_per_s"] = burst / (sent - t0)
    finally:
        ksr.terminate()
        try:
            await asyncio.wait_for(ksr.wait(), 10)
        except TimeoutError:
            ksr.kill()
            await ksr.wait()
        agent.cancel()
        await asyncio.gather(agent, return_exceptions=True)
        await store.close()
    figures["agent_events"] = float(probe.watcher.stats.published)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (same 10,000 pods)")
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()
    samples, burst = (200, 1000) if args.quick else (1000, 5000)
    configure_logging("warning", True)
    with EtcdServer(name="bench") as etcd, tempfile.TemporaryDirectory(prefix="ksrbench-") as tmp:
        api, url = start_api(args.pods)
        try:
            kubeconfig = write_kubeconfig(url, Path(tmp) / "kubeconfig")
            figures = asyncio.run(measure(etcd, url, kubeconfig, args.pods, samples, burst))
        finally:
            api.terminate()
            api.wait(10)
    print(f"cluster: {args.pods} pods, one KSR, one agent watcher, real etcd on tmpfs")
    print(
        f"initial reflection (list, validate, trim, write): "
        f"{figures['reflect_objects_per_s']:.0f} objects/s ({figures['reflect_s']:.2f} s); "
        f"etcd writes alone {figures['etcd_write_objects_per_s']:.0f} objects/s"
    )
    print(
        f"KSR process start -> agent holds all {args.pods} pods: "
        f"{figures['ksr_start_to_agent_synced_s']:.2f} s"
    )
    print(
        f"API change -> agent event ({samples} changes, one at a time): "
        f"median {figures['latency_median_ms']:.1f} ms, p99 {figures['latency_p99_ms']:.1f} ms, "
        f"max {figures['latency_max_ms']:.1f} ms"
    )
    print(
        f"burst of {burst} changes (32 in flight): {figures['burst_changes_per_s']:.0f} changes/s "
        f"end to end (API alone took them at {figures['burst_api_puts_per_s']:.0f}/s)"
    )
    print(
        json.dumps(
            {
                "bench": "ksr",
                "pods": args.pods,
                "samples": samples,
                "burst": burst,
                **{k: round(v, 2) for k, v in figures.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
