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


def test_a_local_pods_egress_change_re_renders_the_tables_of_the_other_local_pods() -> None:
    """Local egress is judged in the destination's table (a block for the source): when the
    source's egress rules change, every other local pod's table follows."""

    def egress_to(port: int) -> K8sUpserted:
        return K8sUpserted(
            k8s.NetworkPolicy(
                "x",
                "client-out",
                k8s.LabelSelector(WEB),
                ("Egress",),
                (),
                (k8s.PolicyRule((), (k8s.PolicyPort("TCP", port),)),),
            )
        )

    events: list[Event] = [
        K8sUpserted(k8s.Pod("x", "db", node_name="node-1")),
        CNIAdd("c1", "/n/db", "eth0", "x", "db"),
        K8sUpserted(k8s.Pod("x", "client", WEB, node_name="node-1")),
        CNIAdd("c2", "/n/client", "eth0", "x", "client"),
        egress_to(5432),
    ]

    def db_table(controller: Controller) -> list[str]:
        binding = controller.desired["vpp/acl-interface/tap-c1"]
        acl = controller.desired[f"vpp/acl/{binding.egress[0]}"]  # type: ignore[attr-defined]
        return [f"{r.action} {r.src_network} {r.dst_ports.first}" for r in acl.rules]

    controller = asyncio.run(_run(events))
    # the node's own network first, then the client's block (port 5432), then the rest
    assert db_table(controller)[1:4] == [
        "permit 10.1.1.3/32 5432",
        "deny 10.1.1.3/32 0",
        "permit  0",
    ]
    controller = asyncio.run(_run([*events, egress_to(8080)]))
    assert db_table(controller)[1:3] == ["permit 10.1.1.3/32 8080", "deny 10.1.1.3/32 0"]
