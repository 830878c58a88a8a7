"""The agent's own bookkeeping (``agent/run.py``, ``agent/podstore.py``), without VPP or etcd."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import immutables
import pytest

from contivpp.agent import podstore
from contivpp.agent.podstore import PodSaver, save_pods
from contivpp.agent.run import Agent
from contivpp.agent.settings import settings_from_mapping
from contivpp.events.state import LocalPod
from contivpp.events.types import ResyncRequested


@pytest.fixture
def zero_umask() -> Iterator[None]:
    old = os.umask(0)
    yield
    os.umask(old)


def agent(tmp_path: Path) -> Agent:
    return Agent(
        settings_from_mapping(
            {"nodeName": "n1", "stateDir": str(tmp_path), "vppSocket": str(tmp_path / "no.sock")}
        )
    )


def pods(*names: str) -> immutables.Map[tuple[str, str], LocalPod]:
    return immutables.Map(
        {("ns", n): LocalPod("ns", n, f"c{n}", f"/var/run/netns/{n}", "eth0", "10.1.1.2")
         for n in names}
    )  # fmt: skip


class Exploding:
    """A store whose every call fails with a non-etcd error (a bug, a decoding surprise)."""

    def __getattr__(self, name: str) -> object:
        async def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        return fail


async def test_a_failed_node_id_release_does_not_stop_the_agent(tmp_path: Path) -> None:
    a = agent(tmp_path)
    a._store = Exploding()  # type: ignore[assignment]
    survivor_ran = asyncio.Event()

    async def survivor() -> None:
        await asyncio.sleep(0.05)
        survivor_ran.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(a._release("node-x"))
        tg.create_task(survivor())
    assert survivor_ran.is_set()


async def test_release_lets_cancellation_through(tmp_path: Path) -> None:
    a = agent(tmp_path)
    blocked = asyncio.Event()

    class Hanging:
        async def range(self, *args: object) -> None:
            blocked.set()
            await asyncio.Event().wait()

    a._store = Hanging()  # type: ignore[assignment]
    task = asyncio.create_task(a._release("node-x"))
    await blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_startup_reason_string_is_not_a_control_flag(tmp_path: Path) -> None:
    a = agent(tmp_path)
    await a._handle(1, ResyncRequested("startup"))
    assert a.controller.sink is None, "only the agent's own startup event attaches the sink"
    assert not a.status.startup_resync_done


async def test_readiness_follows_the_vpp_connection(tmp_path: Path) -> None:
    a = agent(tmp_path)
    a.status.node_id, a.status.kube_synced, a.status.startup_resync_done = 1, True, True
    up = [True]
    a.status.vpp_connected = lambda: up[0]
    assert a.status.not_ready() == []
    up[0] = False
    assert a.status.not_ready() == ["VPP not connected"]


def test_pods_json_is_private_whatever_the_umask(tmp_path: Path, zero_umask: None) -> None:
    path = tmp_path / "state" / "pods.json"
    save_pods(path, pods("a"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["pods"][0]["container_id"] == "ca"


async def test_pod_saver_writes_off_the_loop_in_order_and_keeps_the_last(tmp_path: Path) -> None:
    written: list[tuple[str, ...]] = []
    threads: set[int] = set()
    gate = threading.Event()

    def save(path: Path, snapshot: podstore.Pods, allocator: object) -> None:
        gate.wait(5)  # the first write is slow: later snapshots queue up meanwhile
        threads.add(threading.get_ident())
        written.append(tuple(n for _, n in sorted(snapshot)))
        save_pods(path, snapshot)

    saver = PodSaver(tmp_path / "pods.json", save)
    saver.submit(pods("a"))
    await asyncio.sleep(0.01)  # the first write is in flight
    for names in (("a", "b"), ("a", "b", "c"), ("b", "c")):
        saver.submit(pods(*names))
    gate.set()
    await saver.flush()
    assert threading.get_ident() not in threads, "file I/O ran on the event loop"
    assert written[0] == ("a",) and written[-1] == ("b", "c")
    assert written == sorted(
        written, key=lambda w: [("a",), ("a", "b"), ("a", "b", "c"), ("b", "c")].index(w)
    )
    stored = json.loads((tmp_path / "pods.json").read_text())["pods"]
    assert [p["name"] for p in stored] == ["b", "c"]
    saver.close()


async def test_pod_saver_close_writes_what_is_pending(tmp_path: Path) -> None:
    saver = PodSaver(tmp_path / "pods.json")
    saver.submit(pods("a"))
    saver.submit(pods("z"))
    saver.close()  # before the write task ever ran
    stored = json.loads((tmp_path / "pods.json").read_text())["pods"]
    assert [p["name"] for p in stored] == ["z"]


async def test_pod_saver_survives_a_failing_disk(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    saver = PodSaver(blocker / "pods.json")  # parent is a file: every write fails
    saver.submit(pods("a"))
    await saver.flush()
    saver.close()
