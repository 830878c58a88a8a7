"""Fixtures of the agent tests; the helpers they use live in ``agent_harness``."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from agent_harness import Node, Pod

from etcd_server import EtcdServer


@pytest.fixture
def workdir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    path = Path(tempfile.mkdtemp(prefix="ctvagent-", dir="/tmp"))  # short: unix socket paths
    yield path
    if os.environ.get("KEEP"):  # KEEP=1 leaves the logs and state for debugging
        return
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def node(workdir: Path, etcd_server: EtcdServer) -> AsyncIterator[Node]:
    n = Node("node-a", workdir, etcd_server)
    n.sim.start()
    try:
        yield n
    finally:
        await n.stop_agent()
        n.sim.stop()


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    created: list[Pod] = []
    yield created
    for pod in created:
        pod.delete_netns()
