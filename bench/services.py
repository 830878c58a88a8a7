"""Benchmark of services as NAT44-ED (figures, not pass/fail; the last line is one JSON object).

(a) Rendering and programming N services x 3 endpoints (ClusterIP, one TCP port) into the
    simulator through the real descriptors: render time, commit time, VPP calls.
(b) With the N services present, one endpoint removed and added back (3 -> 2 -> 3 backends):
    VPP calls (goal <= 2) and the time from the changed slice to VPP done (render that one
    service, diff it against its previous part, commit the delta; goal <= 20 ms). There is no
    controller in the loop yet: the parts mechanism (issue 9) will own the render-and-diff step.

Usage: python bench/services.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import structlog

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.events.log import read_lines
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.renderers.services import render_nat_node, render_service, service_context
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.sim import Simulator

EXAMPLE = Path(__file__).parents[1] / "examples" / "three-pods.jsonl"
NODES = [
    k8s.Node("node-1", (k8s.NodeAddress("InternalIP", "10.20.0.11"),)),
    k8s.Node("node-2", (k8s.NodeAddress("InternalIP", "10.20.0.12"),)),
]


def service(i: int) -> k8s.Service:
    return k8s.Service(
        "bench",
        f"svc-{i}",
        cluster_ip=f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}",
        ports=(k8s.ServicePort("http", "TCP", 80, 8080),),
    )


def endpoints(i: int, count: int = 3) -> k8s.EndpointSlice:
    addresses = []
    for j in range(count):
        n = i * 3 + j
        addresses.append(f"10.{2 + n // 62500}.{n // 250 % 250 + 2}.{n % 250 + 2}")
    return k8s.EndpointSlice(
        "bench",
        f"svc-{i}-a",
        f"svc-{i}",
        "IPv4",
        tuple(k8s.Endpoint((a,), node_name="node-2") for a in addresses),
        (k8s.EndpointPort("http", 8080, "TCP"),),
    )


async def run(n: int, changes: int) -> dict[str, object]:
    ctx = service_context(AgentConfig("node-1"), 1, NODES)
    result = await replay(read_lines(iter(EXAMPLE.read_text().splitlines())))
    node = {k: v for k, v in result.desired.items() if k.startswith("vpp/")}
    node.update(render_nat_node(ctx))
    with tempfile.TemporaryDirectory(prefix="bench-svc-", dir="/tmp") as tmp:
        sim = Simulator(seed=1)
        await sim.start(f"{tmp}/api.sock")
        try:
            async with VPPClient(f"{tmp}/api.sock", timeout=30) as vpp:
                sched = Scheduler(vpp_descriptors(vpp), retry=RetryPolicy(max_attempts=0))
                record = await sched.commit(node, trigger="node")
                assert record.ok, dict(record.errors)
                services = [service(i) for i in range(n)]
                slices = [endpoints(i) for i in range(n)]
                t0 = time.perf_counter()
                parts = [render_service(ctx, s, [e]) for s, e in zip(services, slices, strict=True)]
                render_s = time.perf_counter() - t0
                desired: dict[Key, object] = {}
                for part in parts:
                    desired.update(part)
                t0 = time.perf_counter()
                record = await sched.commit(desired, trigger="services")
                commit_s = time.perf_counter() - t0
                assert record.ok, dict(record.errors)
                initial_calls = record.calls

                calls, times = [], []
                for c in range(changes):
                    k = (c * 7919) % n
                    full = endpoints(k)
                    fewer = k8s.EndpointSlice(
                        full.namespace,
                        full.name,
                        full.service_name,
                        full.address_type,
                        full.endpoints[:2],
                        full.ports,
                    )
                    for changed in (fewer, full):
                        t0 = time.perf_counter()
                        new = render_service(ctx, services[k], [changed])
                        old = parts[k]
                        delta: dict[Key, object | None] = {
                            key: value for key, value in new.items() if old.get(key) != value
                        }
                        delta.update({key: None for key in old if key not in new})
                        record = await sched.commit(delta, trigger="endpoint")
                        times.append(time.perf_counter() - t0)
                        assert record.ok, dict(record.errors)
                        calls.append(record.calls)
                        parts[k] = new
        finally:
            await sim.close()
    return {
        "services": n,
        "endpoints_per_service": 3,
        "render_s": round(render_s, 3),
        "render_us_per_service": round(render_s / n * 1e6, 1),
        "initial_commit_s": round(commit_s, 3),
        "initial_vpp_calls": initial_calls,
        "endpoint_change_vpp_calls_max": max(calls),
        "endpoint_change_ms_median": round(statistics.median(times) * 1000, 3),
        "endpoint_change_ms_max": round(max(times) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 services, 5 changes")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n, changes = (1_000, 5) if args.quick else (10_000, 20)
    figures = asyncio.run(run(n, changes))
    for name, value in figures.items():
        print(f"{name:32} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
