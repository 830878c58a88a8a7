"""KSR behaviours no other test pinned (issue 14, "tests that let real bugs through").

- After data loss the KSR re-reads etcd and must also delete keys that exist only there (an
  object deleted from the API while etcd was restored from an older backup, or a key written
  behind its back): a reload that looked only at the API's objects would leave them forever.
- What lands in etcd is checked against literal bytes, not against the KSR's own encoder.
"""

from __future__ import annotations

from ksr_harness import Cluster, wait_until

from contivpp.datastore import keys
from contivpp.events.k8s import ObjectRef
from k8s_api_server import namespace, pod

GHOST = (
    b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ghost","namespace":"default"},'
    b'"spec":{"containers":[{"name":"main"}],"nodeName":"node-1"},'
    b'"status":{"podIP":"10.1.1.99"}}'
)


async def test_reload_after_data_loss_deletes_keys_only_in_etcd(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("default"))
    for i in range(3):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)

    ghost = keys.object_key(ObjectRef("Pod", "default", "ghost"))
    assert ghost == "/vnf-agent/contiv-ksr/k8s/pod/ghost/namespace/default"
    await cluster.store.put(ghost, GHOST)  # a pod the API does not have

    await wait_until(lambda: running.ksr.stats.data_losses >= 1, "KSR to detect the stray key")

    async def ghost_gone() -> bool:
        value, _ = await cluster.store.get(ghost)
        return value is None

    await wait_until(ghost_gone, "the key only in etcd to be deleted", timeout=10)
    await cluster.wait_reflected()
    await cluster.wait_synced(running)


async def test_etcd_holds_the_documented_bytes(cluster: Cluster) -> None:
    api = cluster.api
    api.create(namespace("prod", labels={"team": "a"}))
    api.create(pod("web-0", "prod", ip="10.1.1.2", labels={"app": "web"}, ports=(8080,)))
    running = await cluster.start_ksr()
    await cluster.wait_synced(running)
    stored = await cluster.etcd_k8s()
    # The fake API server gives every object a random uid, as the real one does.
    ns_uid = api.list_objects("Namespace")[0]["metadata"]["uid"]
    pod_uid = api.list_objects("Pod")[0]["metadata"]["uid"]
    assert stored == {
        "/vnf-agent/contiv-ksr/k8s/namespace/prod": (
            b'{"apiVersion":"v1","kind":"Namespace","metadata":{"labels":{"team":"a"},'
            b'"name":"prod","uid":"%s"}}' % ns_uid.encode()
        ),
        "/vnf-agent/contiv-ksr/k8s/pod/web-0/namespace/prod": (
            b'{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"},'
            b'"name":"web-0","namespace":"prod","uid":"%s"},"spec":{"containers":'
            b'[{"name":"main","ports":[{"containerPort":8080,"protocol":"TCP"}]}],'
            b'"nodeName":"node-1"},"status":{"podIP":"10.1.1.2"}}' % pod_uid.encode()
        ),
    }
