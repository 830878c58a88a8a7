"""Time per event of fold + incremental render, at 100 and at 10,000 pods.

For each cluster size the controller (no reconciler behind it) is filled with pods (up to 200
wired through CNI on this node, the rest Kubernetes Pod objects of 9 other nodes), namespaces
with labels, and services (3 endpoints each) and network policies (10 each with 100 pods,
1,000 each with 10,000); then each event kind is timed over many repetitions: pod add, pod
delete, pod label change, namespace label change, node join, endpoint change, policy change.
Next to the time, the bench prints how many parts were re-rendered and how many desired
values changed, and checks
(outside the timing) that the values touched equal the true delta, a diff of two full
renders. Figure of merit: t(10,000) / t(100) per event kind (goal <= 2 where the true effect
has constant size). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from ipaddress import IPv4Network

import attrs

from contivpp.config import AgentConfig, IPAMConfig
from contivpp.controller import Controller, diff
from contivpp.events import k8s
from contivpp.events.state import initial_state
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    Event,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
)
from contivpp.renderers import render

NODES = 10
NAMESPACES = 20
APPS = 50
#: A node wires at most a few hundred pods; the rest of the cluster is remote.
MAX_LOCAL = 200
# A /16 per node, so one node can hold the 5,000 local pods of the large cluster.
PLAN = IPAMConfig(
    pod_subnet_cidr=IPv4Network("10.0.0.0/8"),
    pod_subnet_one_node_prefix_len=16,
)


def _pod(i: int, node: str, labels: k8s.Labels) -> k8s.Pod:
    return k8s.Pod(f"ns-{i % NAMESPACES}", f"pod-{i}", labels=labels, node_name=node)


def _service(i: int, endpoints: tuple[str, ...]) -> tuple[k8s.Service, k8s.EndpointSlice]:
    ns = f"ns-{i % NAMESPACES}"
    service = k8s.Service(
        ns,
        f"svc-{i}",
        cluster_ip=f"10.96.{i // 256}.{i % 256}",
        ports=(k8s.ServicePort("http", "TCP", 80, 8080),),
        selector=(("app", f"app-{i % APPS}"),),
    )
    eps = k8s.EndpointSlice(
        ns,
        f"svc-{i}-abc",
        f"svc-{i}",
        endpoints=tuple(k8s.Endpoint((a,), node_name="node-2") for a in endpoints),
        ports=(k8s.EndpointPort("http", 8080, "TCP"),),
    )
    return service, eps


def _policy(i: int, port: int = 80) -> k8s.NetworkPolicy:
    # the peers share the selected pods' namespaces (app-(i+10) pods exist in ns-(i % 20))
    peer = k8s.PolicyPeer(pod_selector=k8s.LabelSelector((("app", f"app-{(i + 10) % APPS}"),)))
    return k8s.NetworkPolicy(
        f"ns-{i % NAMESPACES}",
        f"pol-{i}",
        k8s.LabelSelector((("app", f"app-{i % APPS}"),)),
        ("Ingress",),
        (k8s.PolicyRule((peer,), (k8s.PolicyPort("TCP", port),)),),
    )


async def build(pods: int, objects: int) -> Controller:
    controller = Controller(initial_state(AgentConfig("node-1", ipam=PLAN)))
    seq = 0

    async def feed(event: Event) -> None:
        nonlocal seq
        seq += 1
        await controller.handle(seq, event)

    for n in range(1, NODES + 1):
        await feed(NodeIDAllocated(f"node-{n}", n))
    for i in range(NAMESPACES):
        await feed(K8sUpserted(k8s.Namespace(f"ns-{i}", (("team", f"t{i % 3}"),))))
    for i in range(pods):
        local = i % 2 == 0 and i // 2 < MAX_LOCAL
        node = "node-1" if local else f"node-{2 + i % (NODES - 1)}"
        pod = _pod(i, node, (("app", f"app-{i % APPS}"),))
        if not local:
            pod = attrs.evolve(pod, ip=f"10.{2 + i % (NODES - 1)}.{i // 256 % 256}.{i % 256}")
        await feed(K8sUpserted(pod))
        if local:
            await feed(
                CNIAdd(f"c{i}", f"/run/netns/p{i}", "eth0", f"ns-{i % NAMESPACES}", f"pod-{i}")
            )
    for i in range(objects):
        addresses = tuple(f"10.3.{i // 256 % 256}.{(i + k) % 256}" for k in range(3))
        service, eps = _service(i, addresses)
        await feed(K8sUpserted(service))
        await feed(K8sUpserted(eps))
        await feed(K8sUpserted(_policy(i)))
    return controller


async def measure(
    controller: Controller, make: list[tuple[Event, Event]], check: bool
) -> dict[str, float]:
    """Time each (do, undo) pair's ``do``; return per-event µs and what it touched."""
    seq = 10**9
    total = 0.0
    rendered = touched = 0
    exact = True
    for do, undo in make:
        before = render(controller.state) if check else None
        start = time.perf_counter()
        await controller.handle(seq, do)
        total += time.perf_counter() - start
        rendered += controller.last_rendered
        touched += controller.last_touched
        if before is not None:
            exact = exact and len(diff(before, render(controller.state))) == controller.last_touched
        await controller.handle(seq + 1, undo)
        seq += 2
    n = len(make)
    return {
        "us": round(total / n * 1e6, 1),
        "parts_rendered": rendered / n,
        "values_touched": touched / n,
        "touched_equals_true_delta": exact,
    }


def scenarios(controller: Controller, reps: int) -> dict[str, list[tuple[Event, Event]]]:
    state = controller.state
    local = sorted(state.local_pods.items())[:reps]
    remote = [
        p
        for p in state.of_kind("Pod").values()
        if isinstance(p, k8s.Pod) and p.node_name != "node-1"
    ][:reps]
    out: dict[str, list[tuple[Event, Event]]] = {}
    out["pod_add"] = [
        (
            CNIAdd(f"new{r}", f"/run/netns/new{r}", "eth0", "ns-0", f"new-{r}"),
            CNIDel(f"new{r}", "", "eth0", "ns-0", f"new-{r}"),
        )
        for r in range(reps)
    ]
    out["pod_delete"] = [
        (
            CNIDel(p.container_id, p.netns, p.ifname, p.namespace, p.name),
            CNIAdd(p.container_id, p.netns, p.ifname, p.namespace, p.name, ip=p.ip),
        )
        for _, p in local
    ]
    out["pod_label_change"] = [
        (K8sUpserted(attrs_evolve_labels(p, (("app", "changed"),))), K8sUpserted(p)) for p in remote
    ]
    ns = [o for o in state.of_kind("Namespace").values() if isinstance(o, k8s.Namespace)]
    out["namespace_label_change"] = [
        (K8sUpserted(k8s.Namespace(n.name, (("team", "other"),))), K8sUpserted(n))
        for n in (ns * (reps // len(ns) + 1))[:reps]
    ]
    slices = [
        o for o in state.of_kind("EndpointSlice").values() if isinstance(o, k8s.EndpointSlice)
    ]
    out["endpoint_change"] = [
        (
            K8sUpserted(attrs.evolve(e, endpoints=e.endpoints[:-1])),
            K8sUpserted(e),
        )
        for e in slices[:reps]
    ]
    nps = [o for o in state.of_kind("NetworkPolicy").values() if isinstance(o, k8s.NetworkPolicy)]
    out["policy_change"] = [
        (K8sUpserted(_policy(int(p.name.split("-")[1]), port=81)), K8sUpserted(p))
        for p in nps[:reps]
    ]
    # IDs 100-249 are free and fit the default interconnect and VXLAN /24s.
    out["node_join"] = [
        (
            NodeIDAllocated(f"joiner-{r}", 100 + r % 150),
            NodeIDReleased(f"joiner-{r}", 100 + r % 150),
        )
        for r in range(reps)
    ]
    return out


def attrs_evolve_labels(pod: k8s.Pod, labels: k8s.Labels) -> k8s.Pod:
    return k8s.Pod(
        pod.namespace, pod.name, labels, pod.node_name, pod.ip, pod.host_network, pod.ports
    )


async def run(sizes: tuple[tuple[int, int], ...], reps: int) -> dict[str, object]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for size, objects in sizes:
        start = time.perf_counter()
        controller = await build(size, objects)
        build_s = time.perf_counter() - start
        per_kind = {}
        for kind, pairs in scenarios(controller, reps).items():
            assert pairs, f"no {kind} events to time"
            await measure(controller, pairs[:5], check=False)  # warm-up
            figures = await measure(controller, pairs, check=False)
            figures["touched_equals_true_delta"] = (
                await measure(controller, pairs[:3], check=True)
            )["touched_equals_true_delta"]
            per_kind[kind] = figures
        results[str(size)] = per_kind
        print(
            f"{size} pods, {objects} services and policies "
            f"(built in {build_s:.1f} s, {len(controller.parts)} desired values):"
        )
        for kind, f in per_kind.items():
            print(
                f"  {kind:<24} {f['us']:>9.1f} µs/event  parts {f['parts_rendered']:.1f}  "
                f"values {f['values_touched']:.1f}  exact={f['touched_equals_true_delta']}"
            )
    small, large = (str(s) for s, _ in (sizes[0], sizes[-1]))
    ratios = {
        kind: round(results[large][kind]["us"] / results[small][kind]["us"], 2)
        for kind in results[small]
    }
    print(f"t({large})/t({small}):", ", ".join(f"{k} {v}" for k, v in ratios.items()))
    return {"sizes": [list(s) for s in sizes], "results": results, "ratio": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions, 100 and 2,000 pods"
    )
    args = parser.parse_args()
    sizes = ((100, 10), (2000, 200)) if args.quick else ((100, 10), (10_000, 1000))
    reps = 20 if args.quick else 200
    print(json.dumps(asyncio.run(run(sizes, reps)), sort_keys=True))


if __name__ == "__main__":
    main()
