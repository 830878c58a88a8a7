"""Benchmark of services as NAT44-ED (figures, not pass/fail; the last line is one JSON object).

The agent's own path: events into the controller (fold, parts, render), the reconciler, the
real descriptors, the simulator over the binary API.

(a) N services x 3 endpoints (ClusterIP, one TCP port) reach the controller as Kubernetes
    events before the reconciler is attached (as at an agent's start); one startup resync then
    programs them: its time and VPP calls.
(b) With the N services present, one endpoint removed and added back (3 -> 2 -> 3 backends), as
    EndpointSlice events handled by the controller with the reconciler attached: VPP messages
    per event (goal <= 2 for the mapping; a removal also dumps the backend's NAT sessions, one
    more message, plus one delete per session found) and the time from the event to VPP done
    (goal <= 20 ms).

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
from typing import Any

import attrs
import structlog

from contivpp.config import AgentConfig
from contivpp.controller import Controller, ReconcilerSink
from contivpp.events import k8s
from contivpp.events.state import initial_state
from contivpp.events.types import Event, K8sUpserted, NodeIDAllocated, ResyncRequested
from contivpp.reconcile import RetryPolicy, Scheduler
from contivpp.renderers.services import Backend
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.nat_sessions import delete_sessions_towards
from contivpp.vpp.sim import Simulator

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


class CountingClient(VPPClient):
    """Counts the binary-API messages sent (a dump counts one)."""

    messages = 0

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        self.messages += 1
        return await super().call(*args, **kwargs)

    async def dump(self, *args: Any, **kwargs: Any) -> Any:
        self.messages += 1
        return await super().dump(*args, **kwargs)


async def run(n: int, changes: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-svc-", dir="/tmp") as tmp:
        sim = Simulator(seed=1)
        await sim.start(f"{tmp}/api.sock")
        try:
            async with CountingClient(f"{tmp}/api.sock", timeout=30) as vpp:
                sched = Scheduler(vpp_descriptors(vpp), retry=RetryPolicy(max_attempts=0))
                controller = Controller(initial_state(AgentConfig("node-1")))
                seq = 0

                async def handle(event: Event) -> None:
                    nonlocal seq
                    seq += 1
                    await controller.handle(seq, event)

                await handle(NodeIDAllocated("node-1", 1))
                for node in NODES:
                    await handle(K8sUpserted(node))
                t0 = time.perf_counter()
                for i in range(n):
                    await handle(K8sUpserted(service(i)))
                    await handle(K8sUpserted(endpoints(i)))
                render_s = time.perf_counter() - t0

                async def sessions(b: Backend) -> int:
                    return await delete_sessions_towards(vpp, b.ip, b.port, b.protocol, vrf=b.vrf)

                # as in the agent: a removed backend's NAT sessions are deleted (one dump here)
                controller.sink = ReconcilerSink(sched, sessions=sessions)
                before = vpp.messages
                t0 = time.perf_counter()
                await handle(ResyncRequested("bench start"))
                commit_s = time.perf_counter() - t0
                initial_calls = vpp.messages - before
                assert not [r for r in sched.history if not r.ok]

                calls, times = [], []
                for c in range(changes):
                    k = (c * 7919) % n
                    full = endpoints(k)
                    fewer = attrs.evolve(full, endpoints=full.endpoints[:2])
                    for changed in (fewer, full):
                        before = vpp.messages
                        t0 = time.perf_counter()
                        await handle(K8sUpserted(changed))
                        times.append(time.perf_counter() - t0)
                        calls.append(vpp.messages - before)
                assert sched.history[-1].ok and controller.apply_errors == 0
        finally:
            await sim.close()
    return {
        "services": n,
        "endpoints_per_service": 3,
        "events_to_state_and_parts_s": round(render_s, 3),
        "us_per_service_event_pair": round(render_s / n * 1e6, 1),
        "initial_resync_s": round(commit_s, 3),
        "initial_vpp_messages": initial_calls,
        "endpoint_change_vpp_messages_max": max(calls),
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
