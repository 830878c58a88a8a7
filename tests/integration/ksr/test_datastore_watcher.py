"""The agent's datastore watcher against real etcd (keys written directly, no KSR): snapshot
then watch in revision order, exactly once across etcd restarts, agent restarts (resume from a
checkpoint), compaction and data loss; bad values skipped; the bus keeps serving while etcd is
down."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from ksr_harness import Cluster, wait_until

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import Delete, EtcdStore, Put
from contivpp.datastore.values import encode_object
from contivpp.datastore.watcher import Checkpoint, DatastoreWatcher
from contivpp.events.bus import EventBus
from contivpp.events.k8s import ObjectRef, Pod, ref_of
from contivpp.events.types import CNIAdd, CNIOutcome, Event, K8sDeleted, K8sUpserted
from k8s_api_server import namespace, pod


def _pod(name: str, ip: str, **labels: str) -> tuple[str, bytes]:
    obj = pod(name, ip=ip, labels=labels)
    obj["apiVersion"] = "v1"
    encoded = encode_object(obj)
    return encoded.key, encoded.value


def _status(synced: bool, epoch: str) -> bytes:
    return json.dumps({"synced": synced, "epoch": epoch}).encode()


def _names(events: list[Event]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        if isinstance(e, K8sUpserted):
            out.append(("upsert", ref_of(e.obj).name))
        elif isinstance(e, K8sDeleted):
            out.append(("delete", e.ref.name))
    return out


async def test_snapshot_then_watch_in_revision_order(cluster: Cluster) -> None:
    store = cluster.store
    for name, ip in (("b", "10.1.1.3"), ("a", "10.1.1.2"), ("c", "10.1.1.4")):
        await store.put(*_pod(name, ip))
    await store.put(keys.KSR_STATUS_KEY, _status(True, "e1"))
    await store.put(keys.allocated_id_key(1), b'{"id":1,"name":"node-1"}')
    agent = await cluster.start_agent()
    await wait_until(lambda: agent.watcher.synced.is_set(), "snapshot")
    assert _names(agent.events) == [("upsert", "b"), ("upsert", "a"), ("upsert", "c")]

    # One transaction = one revision: its events come in the transaction's order.
    key_d, value_d = _pod("d", "10.1.1.5")
    key_a, value_a = _pod("a", "10.1.1.2", app="x")
    key_c, _ = _pod("c", "10.1.1.4")
    await store.txn([], [Put(key_d, value_d), Put(key_a, value_a), Delete(key_c)])
    await store.put(*_pod("b", "10.1.1.33"))
    await store.put(keys.KSR_STATUS_KEY, b'{"synced": true, "epoch": "e1", "txns": 9}')
    await wait_until(lambda: len(agent.events) == 7, "7 events")
    assert _names(agent.events[3:]) == [
        ("upsert", "d"),
        ("upsert", "a"),
        ("delete", "c"),
        ("upsert", "b"),
    ]
    assert isinstance(agent.events[4], K8sUpserted) and agent.events[4].raw["metadata"][
        "labels"
    ] == {"app": "x"}
    assert agent.watcher.stats.ignored == 3  # status twice, allocatedIDs once
    assert agent.watcher.last_revision == (await store.get(keys.KSR_STATUS_KEY))[0].mod_revision  # type: ignore[union-attr]


async def test_etcd_restart_resumes_exactly_once(cluster: Cluster) -> None:
    store = cluster.store
    agent = await cluster.start_agent()
    await wait_until(lambda: agent.watcher.synced.is_set(), "snapshot")
    for i in range(10):
        await store.put(*_pod(f"p{i}", f"10.1.1.{i + 2}"))
    await wait_until(lambda: len(agent.events) == 10, "first 10")
    await asyncio.to_thread(cluster.etcd.restart)
    await wait_until(lambda: not agent.watcher.connected or agent.watcher.stats.reconnects, "drop")

    async def write() -> bool:
        try:
            for i in range(10, 20):
                if keys.object_key(ObjectRef("Pod", "default", f"p{i}")) not in written:
                    await store.put(*_pod(f"p{i}", f"10.1.1.{i + 2}"))
                    written.add(keys.object_key(ObjectRef("Pod", "default", f"p{i}")))
            return True
        except Exception:
            return False

    written: set[str] = set()
    await wait_until(write, "writes after the restart")
    await store.delete(_pod("p3", "")[0])
    await wait_until(lambda: len(agent.events) == 21, "21 events")
    await asyncio.sleep(0.2)  # nothing more may come
    assert _names(agent.events) == ([("upsert", f"p{i}") for i in range(20)] + [("delete", "p3")])
    assert agent.watcher.stats.reconnects >= 1 and agent.watcher.stats.snapshots == 1


async def test_resume_from_a_checkpoint_mid_revision_then_after_compaction(
    cluster: Cluster,
) -> None:
    store = cluster.store
    for i in range(3):
        await store.put(*_pod(f"p{i}", f"10.1.1.{i + 2}"))
    events: list[Event] = []
    gate = asyncio.Event()

    async def publish(event: Event) -> None:
        if len(events) == 5:  # stop in the middle of the 4-key transaction below
            await gate.wait()
        events.append(event)

    watcher = DatastoreWatcher(store, publish, backoff=Backoff(0.05, 0.5))
    task = asyncio.create_task(watcher.run())
    await wait_until(lambda: len(events) == 3, "snapshot")
    await store.txn([], [Put(*_pod(f"t{i}", f"10.1.2.{i + 2}")) for i in range(4)])
    await wait_until(lambda: len(events) == 5, "half the transaction")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    checkpoint = Checkpoint.from_json(json.loads(json.dumps(watcher.checkpoint().to_json())))

    # Restarted agent: the rest of that revision, then new changes, nothing twice.
    await store.put(*_pod("p0", "10.1.1.99"))
    resumed = await cluster.start_agent(resume=checkpoint)
    await wait_until(lambda: len(resumed.events) == 3, "rest of the revision and the update")
    assert _names(resumed.events) == [("upsert", "t2"), ("upsert", "t3"), ("upsert", "p0")]
    await resumed.stop()

    # Restarted again, after history it needs was compacted: the difference, deletes included.
    checkpoint = resumed.watcher.checkpoint()
    await store.delete(_pod("p1", "")[0])
    await store.put(*_pod("p2", "10.1.1.98"))
    await store.delete(_pod("t0", "")[0])
    await store.put(*_pod("new", "10.1.3.1"))
    revision = await store.put(keys.KSR_STATUS_KEY, _status(True, ""))
    await store.compact(revision)
    again = await cluster.start_agent(resume=checkpoint)
    await wait_until(lambda: len(again.events) == 4, "the difference")
    assert sorted(_names(again.events)) == sorted(
        [("delete", "p1"), ("delete", "t0"), ("upsert", "p2"), ("upsert", "new")]
    )
    assert _names(again.events)[:2] == [("delete", "p1"), ("delete", "t0")]  # deletes first
    assert again.watcher.stats.compactions == 1


async def test_data_loss_waits_for_the_ksr_then_publishes_only_the_difference(
    cluster: Cluster,
) -> None:
    store = cluster.store
    for i in range(6):
        await store.put(*_pod(f"p{i}", f"10.1.1.{i + 2}"))
    for _ in range(20):  # push the revision well past what the rebuilt etcd will reach
        await store.put(keys.KSR_STATUS_KEY, _status(True, "e1"))
    agent = await cluster.start_agent()
    await wait_until(lambda: agent.watcher.synced.is_set() and len(agent.events) == 6, "start")

    await asyncio.to_thread(cluster.etcd.wipe)
    # The KSR rebuilds: a new epoch, not synced yet, and part of the objects.
    await wait_until(_retrying(store.put, keys.KSR_STATUS_KEY, _status(False, "e2")), "etcd back")
    for i in (0, 1, 2):
        await store.put(*_pod(f"p{i}", f"10.1.1.{i + 2}"))
    await wait_until(lambda: agent.watcher.stats.data_losses == 1, "data loss detected")
    await asyncio.sleep(0.3)
    assert len(agent.events) == 6  # nothing published from a half-rebuilt etcd
    await store.put(*_pod("p3", "10.1.9.9"))  # changed while etcd was lost
    await store.put(keys.KSR_STATUS_KEY, _status(True, "e2"))
    await wait_until(lambda: len(agent.events) == 9, "the difference")
    assert sorted(_names(agent.events[6:])) == [
        ("delete", "p4"),
        ("delete", "p5"),
        ("upsert", "p3"),
    ]
    # And it follows the new history from there.
    await store.put(*_pod("p6", "10.1.1.8"))
    await wait_until(lambda: len(agent.events) == 10, "new event")


def _retrying(call: Any, *args: Any) -> Any:
    async def attempt() -> bool:
        try:
            await call(*args)
        except Exception:
            return False
        return True

    return attempt


async def test_bad_values_are_skipped_and_named(cluster: Cluster) -> None:
    store = cluster.store
    agent = await cluster.start_agent()
    await wait_until(lambda: agent.watcher.synced.is_set(), "snapshot")
    key_a, value_a = _pod("a", "10.1.1.2")
    with structlog.testing.capture_logs() as logs:
        await store.put(key_a, b"{not json")
        await store.put(keys.object_key(ObjectRef("Pod", "default", "other")), value_a)
        await store.put(key_a, value_a)
        await store.put(keys.K8S_PREFIX + "pod/x", b"{}")  # not an object key: ignored
        await wait_until(lambda: len(agent.events) == 1, "the good value")
    skipped = [e for e in logs if e["event"] == "datastore_value_skipped"]
    assert [e["key"] for e in skipped] == [
        key_a,
        keys.object_key(ObjectRef("Pod", "default", "other")),
    ]
    assert "not JSON" in skipped[0]["error"]
    assert "does not match its key" in skipped[1]["error"]
    assert agent.watcher.stats.malformed == 2
    # A key that never carried a good value is deleted without an event.
    await store.delete(keys.object_key(ObjectRef("Pod", "default", "other")))
    await store.delete(key_a)
    await wait_until(lambda: len(agent.events) == 2, "delete of a")
    assert _names(agent.events) == [("upsert", "a"), ("delete", "a")]


async def test_while_etcd_is_down_the_agent_keeps_state_and_serves_cni(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    api.create(pod("web", ip="10.1.1.7"))
    pods: dict[tuple[str, str], str] = {}
    k8s_events: list[Event] = []
    bus = EventBus()

    async def handle(seq: int, event: Event) -> None:
        if isinstance(event, K8sUpserted | K8sDeleted):
            k8s_events.append(event)
        if isinstance(event, K8sUpserted) and isinstance(event.obj, Pod):
            pods[(event.obj.namespace, event.obj.name)] = event.obj.ip
        elif isinstance(event, K8sDeleted):
            pods.pop((event.ref.namespace, event.ref.name), None)
        elif isinstance(event, CNIAdd) and event.reply is not None:
            ip = pods.get((event.pod_namespace, event.pod_name))
            event.reply.set_result(CNIOutcome(ip=ip or "", error="" if ip else "unknown pod"))

    consumer = asyncio.create_task(bus.run(handle))
    agent_store = EtcdStore([(cluster.etcd.host, cluster.etcd.port)], timeout=1.0)
    watcher = DatastoreWatcher(agent_store, bus.publish, backoff=Backoff(0.05, 0.3))
    watch_task = asyncio.create_task(watcher.run())
    ksr = await cluster.start_ksr()
    await cluster.wait_synced(ksr)
    await wait_until(lambda: ("default", "web") in pods, "pod known")

    await asyncio.to_thread(cluster.etcd.stop)
    await wait_until(lambda: not watcher.connected, "watcher notices")
    before = len(k8s_events)
    reply: asyncio.Future[CNIOutcome] = asyncio.get_running_loop().create_future()
    await bus.publish(CNIAdd("c1", "/var/run/netns/x", "eth0", "default", "web", reply=reply))
    outcome = await asyncio.wait_for(reply, 2)
    assert outcome == CNIOutcome(ip="10.1.1.7")
    await asyncio.sleep(0.3)
    assert len(k8s_events) == before and pods == {("default", "web"): "10.1.1.7"}

    api.create(pod("late", ip="10.1.1.8"))
    await asyncio.to_thread(cluster.etcd.start)
    await wait_until(lambda: ("default", "late") in pods, "changes flow again")
    assert watcher.stats.data_losses == 0
    for task in (watch_task, consumer):
        task.cancel()
    await asyncio.gather(watch_task, consumer, return_exceptions=True)
    await agent_store.close()
