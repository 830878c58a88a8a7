"""NetworkPolicy rendering cost: a full render, sharing, and one policy change.

A synthetic cluster: N pods over N/100 nodes (this node holds 100 of them), N/100 namespaces,
and P policies of the kinds real clusters have (default deny, allow from the same app, allow
from a team's namespaces on ports, egress to DNS by a named port, ipBlock with except,
endPort ranges). Figures: the full reference render of this node (``render_policies``), the
number of table ACLs next to the number of distinct rule lists (they must be equal), and for
one policy change: the pods it selects before and after, and the time to re-render the rules
of only those pods (what the incremental controller will do) next to the full render.
Then the agent's own path: the same cluster fed as events into the controller (fold, indices,
parts), the reconciler attached with a startup resync into the simulator, and the same policy
change as one event: time from the event to VPP done, VPP messages, parts rendered, desired
values touched. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from typing import Any

import attrs
import structlog

from contivpp.config import AgentConfig
from contivpp.controller import Controller, ReconcilerSink
from contivpp.events import k8s
from contivpp.events.state import initial_state
from contivpp.events.types import CNIAdd, Event, K8sUpserted, NodeIDAllocated, ResyncRequested
from contivpp.model.acl import Acl
from contivpp.reconcile import RetryPolicy, Scheduler
from contivpp.renderers.policies import (
    NODE_GLOBAL_ACL,
    REFLECT_ACL,
    LocalPolicyPod,
    NodePolicyContext,
    render_policies,
)
from contivpp.renderers.policy_rules import PeerResolver, pod_rules, pods_selected_by
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.sim import Simulator

APPS = ("web", "api", "db", "cache", "worker")
TEAMS = ("red", "blue", "green", "gold")


def cluster(
    pods: int, policies: int
) -> tuple[list[k8s.Pod], dict[str, k8s.Labels], list[k8s.NetworkPolicy]]:
    namespaces = {f"ns{i}": (("team", TEAMS[i % len(TEAMS)]),) for i in range(max(1, pods // 100))}
    names = sorted(namespaces)
    all_pods = []
    for i in range(pods):
        node, index = divmod(i, 100)
        ports = (
            k8s.ContainerPort("http", 8080 + i % 3, "TCP"),
            k8s.ContainerPort("dns", 53, "UDP"),
        )
        all_pods.append(
            k8s.Pod(
                names[(i * 7) % len(names)],
                f"pod{i}",
                (("app", APPS[i % len(APPS)]),),
                node_name=f"node{node}",
                ip=f"10.{1 + node // 250}.{node % 250}.{index + 2}",
                ports=ports,
            )
        )
    pols = []
    for i in range(policies):
        # Each namespace gets several policies, of different kinds and apps.
        round_ = i // len(names)
        ns = names[i % len(names)]
        app = APPS[(i + round_) % len(APPS)]
        spec: dict[str, Any]
        kind = round_ % 6
        if kind == 0:
            spec = {"podSelector": {}, "ingress": []}
        elif kind == 1:
            spec = {
                "podSelector": {"matchLabels": {"app": app}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": app}}}]}],
            }
        elif kind == 2:
            team = TEAMS[i % len(TEAMS)]
            spec = {
                "podSelector": {"matchLabels": {"app": app}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": team}},
                                "podSelector": {"matchLabels": {"app": "web"}},
                            }
                        ],
                        "ports": [{"port": "http"}],
                    }
                ],
            }
        elif kind == 3:
            spec = {
                "podSelector": {"matchLabels": {"app": app}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": "gold"}},
                                "podSelector": {"matchLabels": {"app": "cache"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": "dns"}],
                    }
                ],
            }
        elif kind == 4:
            spec = {
                "podSelector": {"matchLabels": {"app": app}},
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"10.1.{i % 250}.0/24"]}}
                        ]
                    }
                ],
            }
        else:
            spec = {
                "podSelector": {"matchLabels": {"app": app}},
                "ingress": [{"ports": [{"port": 9000, "endPort": 9000 + i % 50}]}],
            }
        pol = k8s.parse_object(
            {"kind": "NetworkPolicy", "metadata": {"name": f"p{i}", "namespace": ns}, "spec": spec}
        )
        assert isinstance(pol, k8s.NetworkPolicy)
        pols.append(pol)
    return all_pods, namespaces, pols


async def through_the_agent(
    pods: list[k8s.Pod],
    namespaces: dict[str, k8s.Labels],
    policies: list[k8s.NetworkPolicy],
    change: k8s.NetworkPolicy,
) -> dict[str, object]:
    """The cluster as events through the controller into the simulator; then one change."""
    from services import CountingClient  # bench/services.py, beside this file

    with tempfile.TemporaryDirectory(prefix="bench-pol-", dir="/tmp") as tmp:
        sim = Simulator(seed=1)
        await sim.start(f"{tmp}/api.sock")
        try:
            async with CountingClient(f"{tmp}/api.sock", timeout=60) as vpp:
                sched = Scheduler(vpp_descriptors(vpp), retry=RetryPolicy(max_attempts=0))
                controller = Controller(initial_state(AgentConfig("node0")))
                seq = 0

                async def handle(event: Event) -> None:
                    nonlocal seq
                    seq += 1
                    await controller.handle(seq, event)

                await handle(NodeIDAllocated("node0", 1))
                for name, labels in namespaces.items():
                    await handle(K8sUpserted(k8s.Namespace(name, labels)))
                t0 = time.perf_counter()
                for pod in pods:
                    await handle(K8sUpserted(pod))
                    if pod.node_name == "node0":
                        await handle(
                            CNIAdd(
                                f"c-{pod.name}", f"/n/{pod.name}", "eth0", pod.namespace, pod.name
                            )
                        )
                for policy in policies:
                    await handle(K8sUpserted(policy))
                build_s = time.perf_counter() - t0
                controller.sink = ReconcilerSink(sched, prefixes=("vpp/",))
                t0 = time.perf_counter()
                await handle(ResyncRequested("bench start"))
                resync_s = time.perf_counter() - t0
                acls = [k for k in controller.desired if k.startswith("vpp/acl/")]
                before = vpp.messages
                t0 = time.perf_counter()
                await handle(K8sUpserted(change))
                change_ms = (time.perf_counter() - t0) * 1000
                messages = vpp.messages - before
                assert controller.apply_errors == 0 and sched.history[-1].ok
        finally:
            await sim.close()
    return {
        "agent_events_s": round(build_s, 2),
        "agent_startup_resync_s": round(resync_s, 2),
        "agent_acls": len(acls),
        "agent_change_ms": round(change_ms, 2),
        "agent_change_vpp_messages": messages,
        "agent_change_parts_rendered": controller.last_rendered,
        "agent_change_values_touched": controller.last_touched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 pods and 100 policies")
    args = parser.parse_args()
    n_pods, n_policies = (1000, 100) if args.quick else (10_000, 1_000)
    pods, namespaces, policies = cluster(n_pods, n_policies)
    local = [LocalPolicyPod(f"tap-{p.name}", p) for p in pods if p.node_name == "node0"]
    node = NodePolicyContext(("172.30.0.0/24",))

    start = time.perf_counter()
    render = render_policies(local, policies, namespaces, pods, node)
    full_ms = (time.perf_counter() - start) * 1000
    tables = [
        v
        for v in render.values.values()
        if isinstance(v, Acl) and v.name not in (REFLECT_ACL, NODE_GLOBAL_ACL)
    ]
    distinct = {t.rules for t in tables}

    # One policy change: an allow-from-app policy that selects local pods now selects the
    # next app (so it isolates other pods and frees its old ones).
    local_keys = {(lp.pod.namespace, lp.pod.name) for lp in local}
    n_ns = len(namespaces)
    allow_from_app = [p for i, p in enumerate(policies) if (i // n_ns) % 6 == 1]
    before = next(p for p in allow_from_app if local_keys & set(pods_selected_by(p, pods)))
    app = dict(before.pod_selector.match_labels)["app"]
    next_app = APPS[(APPS.index(app) + 1) % len(APPS)]
    after = attrs.evolve(before, pod_selector=k8s.LabelSelector((("app", next_app),)))
    changed = [after if p is before else p for p in policies]
    start = time.perf_counter()
    affected = set(pods_selected_by(before, pods)) | set(pods_selected_by(after, pods))
    scan_ms = (time.perf_counter() - start) * 1000  # the controller's indices replace this scan
    local_affected = [lp for lp in local if (lp.pod.namespace, lp.pod.name) in affected]
    resolver = PeerResolver(namespaces, pods)  # kept across events by the controller
    start = time.perf_counter()
    same_ns = [p for p in changed if p.namespace == after.namespace]
    for lp in local_affected:
        pod_rules(lp.pod, same_ns, resolver)
    change_ms = (time.perf_counter() - start) * 1000

    # What the change costs VPP: the values whose desired state differs (each one VPP call:
    # acl_add_replace, acl_del or acl_interface_set_acl_list).
    after_render = render_policies(local, changed, namespaces, pods, node)
    touched = {
        k
        for k in render.values.keys() | after_render.values.keys()
        if render.values.get(k) != after_render.values.get(k)
    }

    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    agent = asyncio.run(through_the_agent(pods, namespaces, policies, after))
    figures = {
        "pods": n_pods,
        "policies": n_policies,
        "local_pods": len(local),
        "full_render_ms": round(full_ms, 1),
        "values": len(render.values),
        "table_acls": len(tables),
        "distinct_rule_lists": len(distinct),
        "sctp_widened": len(render.sctp_widened),
        "change_pods_selected_cluster": len(affected),
        "change_pods_selected_local": len(local_affected),
        "change_scan_ms": round(scan_ms, 2),
        "change_rerender_ms": round(change_ms, 2),
        "change_values_touched": len(touched),
        **agent,
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
