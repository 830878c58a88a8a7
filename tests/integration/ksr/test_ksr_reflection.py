"""The KSR mirrors the API into etcd and the agent's watcher turns etcd into ordered events:
all six kinds, creates / updates / deletes, trimmed values, start-up mark-and-sweep, API
errors, re-opened watches and bookmarks."""

from __future__ import annotations

import json

from ksr_harness import Cluster, expected_etcd, wait_until

from contivpp.datastore import keys
from contivpp.datastore.values import encode_object
from contivpp.events.k8s import ObjectRef, parse_object, ref_of
from contivpp.events.types import Event, K8sDeleted, K8sUpserted
from k8s_api_server import (
    endpoint_slice,
    namespace,
    network_policy,
    node,
    pod,
    service,
)


def _kind_sequence(events: list[Event], kind: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for e in events:
        if isinstance(e, K8sUpserted) and ref_of(e.obj).kind == kind:
            out.append(("upsert", e.obj))
        elif isinstance(e, K8sDeleted) and e.ref.kind == kind:
            out.append(("delete", e.ref))
    return out


async def test_every_kind_reaches_etcd_and_the_agent_in_order(cluster: Cluster) -> None:
    api = cluster.api
    agent = await cluster.start_agent()
    await cluster.wait_synced(await cluster.start_ksr())
    await wait_until(lambda: agent.watcher.synced.is_set(), "agent snapshot")

    expected: dict[str, list[tuple[str, object]]] = {}

    def expect_upsert(obj: dict[str, object]) -> None:
        parsed = parse_object(obj)
        expected.setdefault(ref_of(parsed).kind, []).append(("upsert", parsed))

    def expect_delete(kind: str, ns: str, name: str) -> None:
        expected.setdefault(kind, []).append(("delete", ObjectRef(kind, ns, name)))  # type: ignore[arg-type]

    expect_upsert(api.create(namespace("prod", {"team": "a"})))
    expect_upsert(api.create(node("node-1")))
    for i in range(5):
        expect_upsert(
            api.create(pod(f"web-{i}", "prod", ip=f"10.1.1.{i + 2}", labels={"app": "web"}))
        )
    expect_upsert(api.create(service("web", "prod")))
    expect_upsert(
        api.create(endpoint_slice("web-abc", "prod", service_name="web", ips=("10.1.1.2",)))
    )
    expect_upsert(api.create(network_policy("deny", "prod")))
    # Updates, each changing something agents see.
    expect_upsert(
        api.modify("Pod", "prod", "web-1", lambda o: o["metadata"]["labels"].update(tier="x"))
    )
    expect_upsert(
        api.modify(
            "EndpointSlice",
            "prod",
            "web-abc",
            lambda o: o["endpoints"].append(
                {"addresses": ["10.1.1.3"], "conditions": {"ready": False}}
            ),
        )
    )
    expect_upsert(
        api.modify("Namespace", "", "prod", lambda o: o["metadata"]["labels"].update(team="b"))
    )
    expect_upsert(
        api.modify("Pod", "prod", "web-1", lambda o: o["status"].update(podIP="10.1.1.99"))
    )
    api.delete("Pod", "prod", "web-3")
    expect_delete("Pod", "prod", "web-3")
    expect_upsert(
        api.modify("Node", "", "node-1", lambda o: o["spec"].update(podCIDR="10.1.9.0/24"))
    )
    api.delete("NetworkPolicy", "prod", "deny")
    expect_delete("NetworkPolicy", "prod", "deny")
    expect_upsert(api.create(pod("web-3", "prod", ip="10.1.1.33")))  # re-created, same name

    await cluster.wait_reflected()
    await cluster.wait_agent(agent)
    for kind, sequence in expected.items():
        assert _kind_sequence(agent.events, kind) == sequence, kind
    assert agent.watcher.stats.malformed == 0


async def test_values_are_trimmed_and_churn_is_not_rewritten(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    created = api.create(pod("p1", ip="10.1.1.2", labels={"app": "a"}, ports=(80,)))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_agent(agent)

    key = keys.object_key(ObjectRef("Pod", "default", "p1"))
    kv, _ = await cluster.store.get(key)
    assert kv is not None
    value = json.loads(kv.value)
    assert value == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p1",
            "namespace": "default",
            "labels": {"app": "a"},
            "uid": created["metadata"]["uid"],
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "main", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
        },
        "status": {"podIP": "10.1.1.2"},
    }
    assert kv.value == json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    # Status conditions, managedFields and resourceVersion churn: no write, no event.
    events_before = len(agent.events)
    txns_before = running.ksr.stats.txns
    api.modify(
        "Pod",
        "default",
        "p1",
        lambda o: o["status"].update(conditions=[{"type": "Ready", "status": "False"}]),
    )
    api.modify("Pod", "default", "p1", lambda o: o["metadata"].update(annotations={"x": "y"}))
    api.create(pod("p2", ip="10.1.1.3"))  # a marker that the churn has been processed
    await cluster.wait_agent(agent)
    kv_after, _ = await cluster.store.get(key)
    assert kv_after is not None and kv_after.mod_revision == kv.mod_revision
    assert len(agent.events) == events_before + 1
    assert running.ksr.stats.txns == txns_before + 1

    # Contiv's own annotations are kept.
    api.modify(
        "Pod", "default", "p1", lambda o: o["metadata"].update(annotations={"contivpp.io/x": "1"})
    )
    await cluster.wait_reflected()
    kv_ann, _ = await cluster.store.get(key)
    assert kv_ann is not None
    assert json.loads(kv_ann.value)["metadata"]["annotations"] == {"contivpp.io/x": "1"}


async def test_startup_sweeps_what_the_api_does_not_hold(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    alive = api.create(pod("alive", ip="10.1.1.2"))
    stale = keys.object_key(ObjectRef("Pod", "default", "gone"))
    garbage = keys.kind_prefix("Pod") + "not-a-valid-key"
    foreign = keys.K8S_PREFIX + "nodeconfig/node-1"  # written by others, not a kind of ours
    outdated = json.loads(encode_object(alive).value)
    outdated["status"]["podIP"] = "10.9.9.9"
    await cluster.store.put(stale, b'{"kind":"Pod"}')
    await cluster.store.put(garbage, b"junk")
    await cluster.store.put(foreign, b"{}")
    await cluster.store.put(
        keys.object_key(ref_of(parse_object(alive))), json.dumps(outdated).encode()
    )

    await cluster.wait_synced(await cluster.start_ksr())
    content = await cluster.etcd_k8s()
    assert content.pop(foreign) == b"{}"  # not ours: left alone
    assert content == expected_etcd(api)  # stale and garbage swept, outdated rewritten
    status_kv, _ = await cluster.store.get(keys.KSR_STATUS_KEY)
    assert status_kv is not None
    status = json.loads(status_kv.value)
    assert status["synced"] is True and status["identity"] == "ksr-a"
    assert status["resources"]["pod"]["deletes"] == 2
    assert status["resources"]["pod"]["updates"] == 1
    assert status["resources"]["namespace"]["adds"] == 1


async def test_api_errors_are_retried_with_backoff(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    api.create(pod("p1", ip="10.1.1.2"))
    api.fail_requests(8, status=500)
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_reflected()
    stats = running.ksr.stats
    assert sum(s.api_errors for s in stats.kinds.values()) == 8
    # Then a 403 on a watch, also retried (from the same resourceVersion: no re-list).
    lists_before = {k: s.lists for k, s in stats.kinds.items()}
    api.fail_requests(2, status=403, reason="Forbidden")
    api.cut_streams()
    api.create(pod("p2", ip="10.1.1.3"))
    await cluster.wait_reflected()
    assert {k: s.lists for k, s in stats.kinds.items()} == lists_before


async def test_watches_resume_from_bookmarks_after_the_server_ends_them(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    stats = running.ksr.stats

    # Pods change; nodes do not, so only bookmarks can move the node watch forward.
    for i in range(5):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    await cluster.wait_reflected()
    rv_now = api.rv
    await wait_until(lambda: stats.kind("Node").resource_version == str(rv_now), "node bookmark")
    api.cut_streams()  # graceful end of every watch
    await wait_until(lambda: len(api.watch_requests("nodes")) >= 2, "node watch re-opened")
    assert api.watch_requests("nodes")[-1]["resourceVersion"] == str(rv_now)
    assert api.watch_requests("nodes")[-1]["allowWatchBookmarks"] == "True"

    api.cut_streams(abrupt=True)  # connections dropped
    api.delete("Pod", "default", "p0")
    api.modify("Pod", "default", "p1", lambda o: o["metadata"]["labels"].update(v="2"))
    await cluster.wait_reflected()
    await cluster.wait_agent(agent)
    assert all(s.lists == 1 for s in stats.kinds.values())  # resumed, never re-listed
    assert all(s.expired == 0 for s in stats.kinds.values())
    assert stats.kind("Node").bookmarks > 0
    assert agent.deletes() == [ObjectRef("Pod", "default", "p0")]
