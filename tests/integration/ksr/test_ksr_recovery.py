"""Nothing lost, nothing duplicated: a 410 mid-burst, a KSR restart, two replicas, an etcd
restart mid-stream, a wiped etcd and a wiped prefix. Each test ends with etcd equal to the API
and the agent's folded events equal to the API, and checks the events one by one."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from ksr_harness import Agent, Cluster, wait_until

from contivpp.datastore import keys
from contivpp.datastore.etcd import Put
from contivpp.events.k8s import ObjectRef, ref_of
from contivpp.events.types import K8sDeleted, K8sUpserted
from contivpp.ksr.election import Term
from contivpp.ksr.mirror import Mirror, Upsert, Watermark
from contivpp.ksr.stats import KSRStats
from k8s_api_server import namespace, pod, service


def _ref(name: str, ns: str = "default") -> ObjectRef:
    return ObjectRef("Pod", ns, name)


def _upserts(agent: Agent) -> Counter[ObjectRef]:
    return Counter(ref_of(e.obj) for e in agent.events if isinstance(e, K8sUpserted))


async def test_410_in_a_burst_loses_nothing_not_even_deletes(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(20):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_agent(agent)

    for i in range(20, 30):  # first half of the burst: seen by the watch
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    await cluster.wait_reflected()
    # The watch ends and, before it is re-opened, more changes happen and the history is
    # compacted: the re-watch gets 410 and only a re-list can tell what happened.
    api.cut_streams(abrupt=True)
    for i in range(0, 10):
        api.delete("Pod", "default", f"p{i}")
    for i in range(10, 15):
        api.modify("Pod", "default", f"p{i}", lambda o: o["metadata"]["labels"].update(v="2"))
    api.create(pod("late", ip="10.1.2.1"))
    api.compact()
    for i in range(30, 35):  # second half of the burst, after the compaction
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))

    await cluster.wait_reflected()
    await cluster.wait_agent(agent)
    assert running.ksr.stats.kind("Pod").expired >= 1
    assert running.ksr.stats.kind("Pod").lists >= 2
    assert sorted(agent.deletes(), key=str) == sorted((_ref(f"p{i}") for i in range(10)), key=str)
    counts = _upserts(agent)
    assert all(counts[_ref(f"p{i}")] == 2 for i in range(10, 15))  # created, relabelled
    assert all(counts[_ref(f"p{i}")] == 1 for i in range(15, 35))  # no duplicates
    assert counts[_ref("late")] == 1


async def test_ksr_restart_catches_up_with_changes_made_while_it_was_down(
    cluster: Cluster,
) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(10):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    agent = await cluster.start_agent()
    first = await cluster.start_ksr("ksr-a")
    await cluster.wait_synced(first)
    await cluster.wait_agent(agent)
    await first.stop()

    api.delete("Pod", "default", "p0")
    api.delete("Pod", "default", "p1")
    api.modify("Pod", "default", "p2", lambda o: o["status"].update(podIP="10.1.9.9"))
    api.create(pod("new", ip="10.1.3.1"))
    api.create(service("svc"))
    api.compact()

    second = await cluster.start_ksr("ksr-b")
    await cluster.wait_synced(second)
    await cluster.wait_reflected()
    await cluster.wait_agent(agent)
    assert sorted(agent.deletes(), key=str) == [_ref("p0"), _ref("p1")]
    counts = _upserts(agent)
    assert counts[_ref("p2")] == 2
    assert all(counts[_ref(f"p{i}")] == 1 for i in range(3, 10))  # unchanged: not rewritten
    assert second.ksr.stats.kind("Pod").adds == 1  # only "new"
    status, _ = await cluster.store.get(keys.KSR_STATUS_KEY)
    assert status is not None and json.loads(status.value)["identity"] == "ksr-b"


async def test_two_replicas_one_writer_and_failover(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    agent = await cluster.start_agent()
    a = await cluster.start_ksr("ksr-a")
    await cluster.wait_synced(a)
    b = await cluster.start_ksr("ksr-b")
    for i in range(10):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
        await asyncio.sleep(0.03)
        assert [r.ksr.is_leader for r in (a, b)] == [True, False]
    await cluster.wait_reflected()
    assert b.ksr.stats.txns == 0 and b.ksr.stats.terms == 0

    await a.stop()  # resigns: the standby takes over at once
    await cluster.wait_synced(b, timeout=5)
    api.delete("Pod", "default", "p3")
    api.create(pod("after", ip="10.1.2.2"))
    await cluster.wait_reflected()
    await cluster.wait_agent(agent)
    status, _ = await cluster.store.get(keys.KSR_STATUS_KEY)
    assert status is not None and json.loads(status.value)["identity"] == "ksr-b"
    counts = _upserts(agent)
    assert all(counts[_ref(f"p{i}")] == 1 for i in range(10))  # the new leader rewrote nothing
    assert agent.deletes() == [_ref("p3")]


async def test_a_replica_that_lost_the_election_key_cannot_write(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    a = await cluster.start_ksr("ksr-a")
    await cluster.wait_synced(a)
    term = a.ksr.term
    assert term is not None
    # The key vanishes (as when the lease expired during a pause); another replica takes it.
    await cluster.store.delete(keys.ELECTION_KEY)
    thief = await cluster.store.txn([], [Put(keys.ELECTION_KEY, b'{"identity":"other"}')])
    await wait_until(lambda: term.ended.is_set(), "old term to end")
    assert not a.ksr.is_leader

    # A writer that still believes in the old term is refused by etcd.
    stale = Term("ksr-a", term.lease_id, term.revision, 2)
    mirror = Mirror(a.store, stale, a.ksr.config, KSRStats(), Watermark())
    await mirror.submit(Upsert("Pod", keys.object_key(_ref("x")), b"{}"))
    task = asyncio.create_task(mirror.run())
    await wait_until(lambda: stale.ended.is_set(), "stale writer to be refused")
    await asyncio.gather(task, return_exceptions=True)
    kv, _ = await cluster.store.get(keys.object_key(_ref("x")))
    assert kv is None
    holder, _ = await cluster.store.get(keys.ELECTION_KEY)
    assert holder is not None and holder.mod_revision == thief.revision

    # Once the key is free again, the replica campaigns and writes again.
    await cluster.store.delete(keys.ELECTION_KEY)
    api.create(pod("p1", ip="10.1.1.2"))
    await cluster.wait_synced(a)
    await cluster.wait_reflected()


async def test_etcd_restart_mid_stream(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)

    async def churn() -> None:
        for i in range(60):
            api.create(pod(f"p{i}", ip=f"10.1.{i // 200}.{i % 200 + 2}"))
            if i % 3 == 0 and i:
                api.modify(
                    "Pod", "default", f"p{i - 1}", lambda o: o["metadata"]["labels"].update(x="1")
                )
            if i % 7 == 0 and i:
                api.delete("Pod", "default", f"p{i - 2}")
            await asyncio.sleep(0.01)

    producer = asyncio.create_task(churn())
    await wait_until(lambda: len(agent.events) >= 10, "first events")
    await asyncio.to_thread(cluster.etcd.stop)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(cluster.etcd.start)
    await producer
    await cluster.wait_reflected(timeout=15)
    await cluster.wait_agent(agent, timeout=15)
    assert agent.watcher.stats.reconnects >= 1
    assert running.ksr.stats.etcd_errors >= 1
    assert agent.watcher.stats.data_losses == 0 and running.ksr.stats.data_losses == 0
    counts = _upserts(agent)
    deleted = {_ref(f"p{i - 2}") for i in range(7, 60, 7)}
    changes = {_ref(f"p{i - 1}") for i in range(3, 60, 3)}
    assert Counter(agent.deletes()) == Counter(r for r in deleted if counts[r])
    for i in range(60):
        ref = _ref(f"p{i}")
        # A change made while etcd was down may be folded into the next one (level-triggered:
        # a pod created and deleted meanwhile is never seen), but nothing is ever duplicated.
        most = 1 + (ref in changes)
        least = 0 if ref in deleted else 1
        assert least <= counts[ref] <= most, (ref, counts[ref])


async def test_etcd_wiped_everything_is_reflected_again(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(15):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_agent(agent)
    events_before = len(agent.events)

    await asyncio.to_thread(cluster.etcd.wipe)  # empty etcd, revision back to 1
    api.delete("Pod", "default", "p0")
    api.modify("Pod", "default", "p1", lambda o: o["status"].update(podIP="10.1.8.8"))

    await cluster.wait_reflected(timeout=15)
    await cluster.wait_agent(agent, timeout=15)
    assert running.ksr.stats.data_losses >= 1
    assert agent.watcher.stats.data_losses >= 1
    # The agent published exactly the difference: no delete / re-add of unchanged pods.
    new_events = agent.events[events_before:]
    assert [e.ref for e in new_events if isinstance(e, K8sDeleted)] == [_ref("p0")]
    assert [ref_of(e.obj) for e in new_events if isinstance(e, K8sUpserted)] == [_ref("p1")]
    status, _ = await cluster.store.get(keys.KSR_STATUS_KEY)
    assert status is not None and json.loads(status.value)["synced"] is True


async def test_prefix_wiped_is_detected_and_agents_keep_their_state(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(10):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    agent = await cluster.start_agent()
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.wait_agent(agent)
    events_before = len(agent.events)

    await cluster.store.delete(keys.KSR_PREFIX, prefix=True)
    await wait_until(lambda: running.ksr.stats.data_losses == 1, "KSR to detect the wipe")
    await cluster.wait_reflected()
    api.create(pod("after", ip="10.1.2.2"))
    await cluster.wait_agent(agent)
    assert agent.watcher.stats.data_losses == 1
    assert agent.events[events_before:] == [
        e for e in agent.events[events_before:] if isinstance(e, K8sUpserted)
    ]
    assert [ref_of(e.obj) for e in agent.events[events_before:]] == [_ref("after")]  # type: ignore[union-attr]


async def test_keys_deleted_behind_the_ksr_are_rewritten(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(5):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    await cluster.store.delete(keys.object_key(_ref("p3")))
    await wait_until(lambda: running.ksr.stats.data_losses == 1, "KSR to notice")
    await cluster.wait_reflected()
