"""Policy parts: which events re-render which local pods' rules (targeted cases the random
oracle meets rarely), each checked against a from-scratch render."""

from __future__ import annotations

import asyncio

from contivpp.config import AgentConfig
from contivpp.controller import Controller
from contivpp.events import k8s
from contivpp.events.state import initial_state
from contivpp.events.types import CNIAdd, Event, K8sUpserted, NodeIDAllocated
from contivpp.renderers import render
from contivpp.renderers.parts import rules_owner

WEB = (("app", "web"),)


def _policy(peer: k8s.PolicyPeer) -> K8sUpserted:
    return K8sUpserted(
        k8s.NetworkPolicy(
            "x",
            "db-in",
            k8s.LabelSelector(),
            ("Ingress",),
            (k8s.PolicyRule((peer,), (k8s.PolicyPort("TCP", 5432),)),),
        )
    )


async def _run(events: list[Event]) -> Controller:
    controller = Controller(initial_state(AgentConfig("node-1")), strict=True)
    for seq, event in enumerate([NodeIDAllocated("node-1", 1), *events], 1):
        await controller.handle(seq, event)
        assert controller.desired == render(controller.state, strict=True), event
    return controller


def _permitted_sources(controller: Controller) -> list[str]:
    rules = controller.parts._facts[rules_owner("x", "db")]  # the local pod's ingress rules
    return [p.peer for p in rules.ingress]  # type: ignore[attr-defined]


def test_a_namespace_label_change_re_renders_the_pods_of_policies_naming_it() -> None:
    team = k8s.PolicyPeer(namespace_selector=k8s.LabelSelector((("team", "a"),)))
    events: list[Event] = [
        K8sUpserted(k8s.Pod("x", "db", node_name="node-1")),
        CNIAdd("c1", "/n/db", "eth0", "x", "db"),
        K8sUpserted(k8s.Pod("y", "client", WEB, node_name="node-2", ip="10.1.2.9")),
        K8sUpserted(k8s.Namespace("y")),
        _policy(team),
    ]
    controller = asyncio.run(_run(events))
    assert _permitted_sources(controller) == []
    controller = asyncio.run(_run([*events, K8sUpserted(k8s.Namespace("y", (("team", "a"),)))]))
    assert _permitted_sources(controller) == ["10.1.2.9/32"]


def test_a_peer_pods_label_change_re_renders_the_pods_of_policies_naming_it() -> None:
    web = k8s.PolicyPeer(pod_selector=k8s.LabelSelector(WEB))
    events: list[Event] = [
        K8sUpserted(k8s.Pod("x", "db", node_name="node-1")),
        CNIAdd("c1", "/n/db", "eth0", "x", "db"),
        K8sUpserted(k8s.Pod("x", "client", node_name="node-2", ip="10.1.2.9")),
        _policy(web),
    ]
    controller = asyncio.run(_run(events))
    assert _permitted_sources(controller) == []
    labelled = K8sUpserted(k8s.Pod("x", "client", WEB, node_name="node-2", ip="10.1.2.9"))
    controller = asyncio.run(_run([*events, labelled]))
    assert _permitted_sources(controller) == ["10.1.2.9/32"]
    moved = K8sUpserted(k8s.Pod("x", "client", WEB, node_name="node-2", ip="10.1.2.10"))
    controller = asyncio.run(_run([*events, labelled, moved]))
    assert _permitted_sources(controller) == ["10.1.2.10/32"]
