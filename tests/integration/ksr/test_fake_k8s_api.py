"""The test API server speaks the Kubernetes wire protocol the way kubernetes_asyncio expects it
(deps-report 2.3 / 2.4): checked here with kubernetes_asyncio's own typed API and ``Watch``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from k8s_api_server import (
    APIError,
    FakeKubeAPI,
    endpoint_slice,
    namespace,
    network_policy,
    node,
    parse_bool,
    parse_label_selector,
    pod,
    service,
)


@pytest.fixture
async def api() -> AsyncIterator[FakeKubeAPI]:
    server = FakeKubeAPI(bookmark_interval=0.1)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def kube(api: FakeKubeAPI, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = await config.new_client_from_config(config_file=str(path), persist_config=False)
    yield api_client
    await api_client.close()


async def test_lists_of_all_six_kinds_with_resource_versions(
    api: FakeKubeAPI, kube: client.ApiClient
) -> None:
    api.create(namespace("default"))
    api.create(namespace("other"))
    api.create(pod("p1", ip="10.1.1.2"))
    api.create(pod("p2", "other", ip="10.1.1.3"))
    api.create(service("s1"))
    api.create(endpoint_slice("s1-x", ips=("10.1.1.2",)))
    api.create(network_policy("np"))
    api.create(node("n1"))
    core = client.CoreV1Api(kube)
    pods = await core.list_pod_for_all_namespaces()
    assert [p.metadata.name for p in pods.items] == ["p1", "p2"]
    assert pods.metadata.resource_version == str(api.rv)
    assert [p.metadata.name for p in (await core.list_namespaced_pod("other")).items] == ["p2"]
    assert len((await core.list_namespace()).items) == 2
    assert (await core.read_namespace("other")).metadata.name == "other"  # not a prefix
    assert len((await core.list_service_for_all_namespaces()).items) == 1
    assert len((await core.list_node()).items) == 1
    slices = await client.DiscoveryV1Api(kube).list_endpoint_slice_for_all_namespaces()
    assert slices.items[0].endpoints[0].addresses == ["10.1.1.2"]
    policies = await client.NetworkingV1Api(kube).list_network_policy_for_all_namespaces()
    assert policies.items[0].spec.pod_selector.match_labels == {"app": "web"}
    # Every object has its own resourceVersion, uid and creationTimestamp.
    rvs = [int(p.metadata.resource_version) for p in pods.items]
    assert rvs == sorted(rvs) and all(p.metadata.uid for p in pods.items)
    # Raw list items carry no kind / apiVersion, like the real server.
    async with aiohttp.ClientSession() as session, session.get(f"{api.url}/api/v1/pods") as resp:
        body = await resp.json()
    assert body["kind"] == "PodList" and "kind" not in body["items"][0]


async def test_watch_from_a_list_version_then_bookmarks_and_timeout(
    api: FakeKubeAPI, kube: client.ApiClient
) -> None:
    api.create(namespace("default"))
    api.create(pod("p1"))
    core = client.CoreV1Api(kube)
    listed = await core.list_pod_for_all_namespaces()
    api.create(pod("p2"))
    api.delete("Pod", "default", "p1")
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    async with w:
        async for event in w.stream(
            core.list_pod_for_all_namespaces,
            resource_version=listed.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        ):
            if event["type"] == "BOOKMARK":
                seen.append(("BOOKMARK", event["raw_object"]["metadata"]["resourceVersion"]))
            else:
                seen.append((event["type"], event["object"].metadata.name))
    assert seen[:2] == [("ADDED", "p2"), ("DELETED", "p1")]
    assert ("BOOKMARK", str(api.rv)) in seen[2:]  # ended by timeoutSeconds, with bookmarks
    assert w.resource_version == str(api.rv)
    query = api.watch_requests("pods")[-1]
    assert query["allowWatchBookmarks"] == "True" and parse_bool(query["watch"], "watch")


async def test_410_after_compaction(api: FakeKubeAPI, kube: client.ApiClient) -> None:
    api.create(namespace("default"))
    core = client.CoreV1Api(kube)
    old = (await core.list_pod_for_all_namespaces()).metadata.resource_version
    api.create(pod("p1"))
    api.compact()
    with pytest.raises(ApiException) as caught:
        async with watch.Watch() as w:
            async for _ in w.stream(
                core.list_pod_for_all_namespaces, resource_version=old, timeout_seconds=1
            ):
                pass
    assert caught.value.status == 410
    assert "too old resource version" in str(caught.value.reason)


async def test_label_selectors_on_lists_and_watches(
    api: FakeKubeAPI, kube: client.ApiClient
) -> None:
    api.create(namespace("default"))
    api.create(pod("a", labels={"app": "web", "tier": "fe"}))
    api.create(pod("b", labels={"app": "db"}))
    api.create(pod("c", labels={"app": "web"}))
    core = client.CoreV1Api(kube)

    async def names(selector: str) -> list[str]:
        result = await core.list_pod_for_all_namespaces(label_selector=selector)
        return [p.metadata.name for p in result.items]

    assert await names("app=web") == ["a", "c"]
    assert await names("app in (web,db),tier") == ["a"]
    assert await names("app!=web") == ["b"]
    assert await names("!tier,app notin (db)") == ["c"]
    assert [
        p.metadata.name
        for p in (await core.list_pod_for_all_namespaces(field_selector="metadata.name=b")).items
    ] == ["b"]
    with pytest.raises(ApiException) as caught:
        await core.list_pod_for_all_namespaces(label_selector="app web")
    assert caught.value.status == 400

    rv = (await core.list_pod_for_all_namespaces()).metadata.resource_version
    api.modify("Pod", "default", "b", lambda o: o["metadata"]["labels"].update(app="web"))
    api.modify("Pod", "default", "a", lambda o: o["metadata"]["labels"].update(app="x"))
    api.modify("Pod", "default", "c", lambda o: o["metadata"]["labels"].update(v="2"))
    seen = []
    async with watch.Watch() as w:
        async for event in w.stream(
            core.list_pod_for_all_namespaces,
            label_selector="app=web",
            resource_version=rv,
            timeout_seconds=1,
        ):
            seen.append((event["type"], event["object"].metadata.name))
    assert seen == [("ADDED", "b"), ("DELETED", "a"), ("MODIFIED", "c")]
    assert parse_label_selector("") == ()


async def test_paged_lists_are_one_consistent_snapshot(
    api: FakeKubeAPI, kube: client.ApiClient
) -> None:
    api.create(namespace("default"))
    for i in range(7):
        api.create(pod(f"p{i}"))
    core = client.CoreV1Api(kube)
    first = await core.list_pod_for_all_namespaces(limit=3)
    api.delete("Pod", "default", "p5")  # after the first page: not visible in this list
    api.create(pod("p9"))
    second = await core.list_pod_for_all_namespaces(limit=3, _continue=first.metadata._continue)
    third = await core.list_pod_for_all_namespaces(limit=3, _continue=second.metadata._continue)
    names = [p.metadata.name for page in (first, second, third) for p in page.items]
    assert names == [f"p{i}" for i in range(7)]
    assert third.metadata._continue is None
    assert second.metadata.resource_version == first.metadata.resource_version
    api.compact()
    with pytest.raises(ApiException) as caught:
        await core.list_pod_for_all_namespaces(limit=3, _continue=first.metadata._continue)
    assert caught.value.status == 410


async def test_cut_streams_and_injected_failures(api: FakeKubeAPI, kube: client.ApiClient) -> None:
    api.create(namespace("default"))
    core = client.CoreV1Api(kube)
    events: list[str] = []

    async def consume() -> None:
        async with watch.Watch() as w:
            async for event in w.stream(
                core.list_pod_for_all_namespaces, resource_version=str(api.rv), timeout_seconds=30
            ):
                events.append(event["type"])

    task = asyncio.create_task(consume())
    for _ in range(100):
        if api.open_watches:
            break
        await asyncio.sleep(0.01)
    api.create(pod("p1"))
    await asyncio.sleep(0.05)
    assert api.cut_streams() == 1
    await asyncio.wait_for(task, 2)  # the stream ended well before its 30 s timeout
    assert events == ["ADDED"]

    api.fail_requests(1, status=503, reason="ServiceUnavailable")
    with pytest.raises(ApiException) as caught:
        await core.list_pod_for_all_namespaces()
    assert caught.value.status == 503
    assert len((await core.list_pod_for_all_namespaces()).items) == 1


async def test_crud_errors_are_status_objects(api: FakeKubeAPI, kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    await core.create_namespace({"metadata": {"name": "default"}})
    created = await core.create_namespaced_pod("default", pod("p1"))
    with pytest.raises(ApiException) as conflict:
        await core.create_namespaced_pod("default", pod("p1"))
    assert conflict.value.status == 409
    stale = pod("p1")
    stale["metadata"]["resourceVersion"] = "1"  # type: ignore[index]
    with pytest.raises(ApiException) as outdated:
        await core.replace_namespaced_pod("p1", "default", stale)
    assert outdated.value.status == 409
    fresh = pod("p1", ip="10.1.1.2")
    fresh["metadata"]["resourceVersion"] = created.metadata.resource_version  # type: ignore[index]
    replaced = await core.replace_namespaced_pod("p1", "default", fresh)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    await core.delete_namespaced_pod("p1", "default")
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_pod("p1", "default")
    assert missing.value.status == 404
    with pytest.raises(APIError):
        parse_bool("yes", "watch")
