"""The KSR's ``/healthz``, ``/readyz`` and ``/metrics`` on running replicas (fake API server,
real etcd): leader and standby, a forced re-list, an etcd outage, and ``contivpp ksr`` itself."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from ksr_harness import Cluster, RunningKSR, wait_until
from prometheus_client.parser import text_string_to_metric_families

from contivpp.ksr.http import start_http
from k8s_api_server import namespace, node, pod

CONTIVPP = str(Path(sys.executable).with_name("contivpp"))
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


Serve = Callable[[RunningKSR], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start a replica's HTTP endpoint on a free port; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(running: RunningKSR) -> str:
        runner = await start_http(running.ksr, "127.0.0.1", 0)
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text(), resp.headers.get("Content-Type", "")


async def metrics(base: str) -> Samples:
    status, text, ctype = await get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=")
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            # Prometheus naming: every counter sample is exposed as <name>_total
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_leader_and_standby_endpoints(cluster: Cluster, serve: Serve) -> None:
    api = cluster.api
    api.create(namespace("default"))
    api.create(node("node-1"))
    for i in range(3):
        api.create(pod(f"p{i}", ip=f"10.1.1.{i + 2}"))
    a = await cluster.start_ksr("ksr-a")
    a_url = await serve(a)
    await cluster.wait_synced(a)

    assert await get(a_url + "/healthz") == (200, "ok\n", "text/plain; charset=utf-8")
    assert (await get(a_url + "/readyz"))[:2] == (200, "leader, synced\n")
    m = await metrics(a_url)
    assert value(m, "contivpp_ksr_leader") == 1
    assert value(m, "contivpp_ksr_synced") == 1
    assert value(m, "contivpp_ksr_leader_terms_total") == 1
    assert value(m, "contivpp_ksr_objects", kind="pod") == 3
    assert value(m, "contivpp_ksr_objects", kind="node") == 1
    assert value(m, "contivpp_ksr_objects", kind="namespace") == 1
    assert value(m, "contivpp_ksr_objects", kind="service") == 0
    assert value(m, "contivpp_ksr_object_writes_total", kind="pod", op="add") == 3
    assert value(m, "contivpp_ksr_object_writes_total", kind="pod", op="delete") == 0
    assert value(m, "contivpp_ksr_lists_total", kind="pod") == 1
    assert value(m, "contivpp_ksr_relists_total", kind="pod") == 0
    assert value(m, "contivpp_ksr_etcd_errors_total") == 0
    assert value(m, "contivpp_ksr_api_errors_total", kind="pod") == 0

    b = await cluster.start_ksr("ksr-b")
    b_url = await serve(b)

    async def standby_ready() -> bool:
        return (await get(b_url + "/readyz"))[:2] == (200, "standby, leader ksr-a\n")

    await wait_until(standby_ready, "ksr-b ready as a standby")
    m = await metrics(b_url)
    assert value(m, "contivpp_ksr_leader") == 0
    assert value(m, "contivpp_ksr_synced") == 0
    assert not [k for k in m if k[0] == "contivpp_ksr_objects"]  # only the leader reports

    # a watch cut while its history is compacted away: the leader must re-list
    api.cut_streams(abrupt=True)
    api.delete("Pod", "default", "p0")
    api.compact()

    async def relisted() -> bool:
        m = await metrics(a_url)
        return (
            value(m, "contivpp_ksr_relists_total", kind="pod") == 1
            and value(m, "contivpp_ksr_objects", kind="pod") == 2
        )

    await wait_until(relisted, "the re-list to show in the leader's metrics")
    m = await metrics(a_url)
    assert value(m, "contivpp_ksr_lists_total", kind="pod") == 2
    assert value(m, "contivpp_ksr_object_writes_total", kind="pod", op="delete") == 1

    # etcd down: neither replica is ready, the leader counts the errors; both recover
    await asyncio.to_thread(cluster.etcd.stop)

    async def both_unready() -> bool:
        ra, rb = await get(a_url + "/readyz"), await get(b_url + "/readyz")
        return ra[0] == 503 and rb[0] == 503 and rb[1].startswith("standby, etcd unreachable")

    await wait_until(both_unready, "both replicas not ready while etcd is down")
    assert (await get(a_url + "/healthz"))[0] == 200  # alive: no reason to restart it
    errors = value(await metrics(a_url), "contivpp_ksr_etcd_errors_total")
    assert errors is not None and errors >= 1
    await asyncio.to_thread(cluster.etcd.start)

    async def ready_again() -> bool:
        ra, rb = await get(a_url + "/readyz"), await get(b_url + "/readyz")
        return ra[0] == 200 and rb[0] == 200

    await wait_until(ready_again, "both replicas ready after etcd is back", timeout=15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_contivpp_ksr_serves_probes(cluster: Cluster) -> None:
    cluster.api.create(namespace("default"))
    port = _free_port()
    cmd = [CONTIVPP, "ksr", "--kubeconfig", str(cluster.kubeconfig)]
    cmd += ["--etcd-endpoints", cluster.etcd.endpoint, "--identity", "cli"]
    proc = await asyncio.create_subprocess_exec(
        *cmd, "--http-address", f"127.0.0.1:{port}", stderr=asyncio.subprocess.DEVNULL
    )
    try:

        async def ready() -> bool:
            try:
                return (await get(f"http://127.0.0.1:{port}/readyz"))[:2] == (
                    200,
                    "leader, synced\n",
                )
            except aiohttp.ClientConnectionError:
                return False

        await wait_until(ready, "contivpp ksr ready", timeout=20)
        # a second replica on the same address: one clear line, no traceback
        second = await asyncio.create_subprocess_exec(
            *cmd, "--http-address", f"127.0.0.1:{port}", stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(second.communicate(), 20)
        assert second.returncode == 1
        assert (
            err.decode()
            .strip()
            .endswith(f"--http-address 127.0.0.1:{port}: Address already in use")
        ), err
        assert b"Traceback" not in err
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0

    bad = await asyncio.create_subprocess_exec(
        *cmd, "--http-address", "9191", stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(bad.communicate(), 20)
    assert bad.returncode == 1
    assert err.decode() == "contivpp ksr: --http-address: expected HOST:PORT, got '9191'\n"
