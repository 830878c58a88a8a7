"""Malformed Kubernetes objects are skipped with one clear log line naming the object and the
field, are counted, are never written, and do not stop anything else."""

from __future__ import annotations

import json

import structlog
from ksr_harness import Cluster, expected_etcd, wait_until

from contivpp.datastore import keys
from contivpp.events.k8s import ObjectRef
from k8s_api_server import namespace, pod, service


def _bad_port_pod(name: str) -> dict[str, object]:
    obj = pod(name, ip="10.1.1.50")
    obj["spec"]["containers"][0]["ports"] = [{"containerPort": "eighty"}]  # type: ignore[index]
    return obj


async def test_malformed_objects_are_skipped_with_a_clear_log_line(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    api.create(pod("good-1", ip="10.1.1.2"))
    api.create(_bad_port_pod("bad-at-list"))  # seen by the list
    with structlog.testing.capture_logs() as logs:
        agent = await cluster.start_agent()
        running = await cluster.start_ksr()
        await cluster.wait_synced(running)
        bad_service = service("bad-svc")
        bad_service["spec"]["ports"] = "80"  # type: ignore[index]
        api.create(bad_service)  # seen by the watch
        api.create(_bad_port_pod("bad-at-watch"))
        no_ip = pod("wrong-type")
        no_ip["status"]["podIP"] = 10  # type: ignore[index]
        api.create(no_ip)
        api.create(pod("good-2", ip="10.1.1.3"))
        await cluster.wait_reflected()
        await cluster.wait_agent(agent)

    skipped = [e for e in logs if e["event"] == "ksr_object_skipped"]
    assert sorted((e["object"], e["field"]) for e in skipped) == [
        ("Pod default/bad-at-list", "spec.containers[0].ports[0].containerPort"),
        ("Pod default/bad-at-watch", "spec.containers[0].ports[0].containerPort"),
        ("Pod default/wrong-type", "status.podIP"),
        ("Service default/bad-svc", "spec.ports"),
    ]
    assert all(e["log_level"] == "warning" and e["reason"] for e in skipped)
    assert {e["reason"] for e in skipped} >= {"expected a list, got string"}
    content = await cluster.etcd_k8s()
    assert keys.object_key(ObjectRef("Pod", "default", "good-2")) in content
    assert not any("bad" in key or "wrong-type" in key for key in content)
    assert {ref.name for ref in agent.state()} == {"default", "good-1", "good-2"}
    stats = running.ksr.stats
    assert stats.kind("Pod").skipped == 3 and stats.kind("Service").skipped == 1
    await wait_until(lambda: running.ksr.mirror is not None, "mirror")

    async def status_counts() -> bool:
        status, _ = await cluster.store.get(keys.KSR_STATUS_KEY)
        resources = json.loads(status.value)["resources"] if status else {}
        return resources.get("pod", {}).get("skipped") == 3

    await wait_until(status_counts, "skipped objects counted in the status key")


async def test_a_good_object_turned_bad_keeps_its_last_good_value(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    api.create(pod("p1", ip="10.1.1.2", labels={"v": "1"}))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_agent(agent)
    key = keys.object_key(ObjectRef("Pod", "default", "p1"))
    good = (await cluster.store.get(key))[0]
    assert good is not None

    def break_it(o: dict[str, object]) -> None:
        o["metadata"]["labels"] = ["not", "a", "map"]  # type: ignore[index]

    api.modify("Pod", "default", "p1", break_it)
    api.create(pod("marker", ip="10.1.1.3"))
    await wait_until(
        lambda: any(k.endswith("/marker/namespace/default") for k in agent.watcher.known_keys()),
        "marker",
    )
    after = (await cluster.store.get(key))[0]
    assert after is not None and after.mod_revision == good.mod_revision
    assert json.loads(after.value)["metadata"]["labels"] == {"v": "1"}

    # A re-list keeps it too (it is not swept as if it had been deleted).
    api.cut_streams()
    api.create(pod("marker-2", ip="10.1.1.4"))  # missed by the watch, then compacted away
    api.compact()
    await wait_until(lambda: running.ksr.stats.kind("Pod").lists == 2, "re-list")
    await cluster.wait_synced(running)
    assert (await cluster.store.get(key))[0] == after

    # Fixed again: written; deleted: the key goes, even though the object was once bad.
    api.modify("Pod", "default", "p1", lambda o: o["metadata"].update(labels={"v": "2"}))
    await cluster.wait_reflected()
    api.modify("Pod", "default", "p1", break_it)
    api.delete("Pod", "default", "p1")
    await cluster.wait_reflected()
    assert key not in expected_etcd(api)
    await cluster.wait_agent(agent)
