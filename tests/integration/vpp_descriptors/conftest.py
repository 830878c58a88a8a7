"""Fixtures for the VPP descriptor tests: a simulator on a real unix socket (in-process, on the
test's event loop), the agent's asyncio client connected to it, and the real KV scheduler with
every VPP descriptor registered."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from vppdesc_helpers import SimHandle

from contivpp.reconcile import AnyDescriptor, RetryPolicy, Scheduler
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors


@pytest.fixture
def sock_path() -> Iterator[str]:
    # Unix socket paths are limited to 107 bytes: stay out of pytest's deep tmp_path.
    path = Path(tempfile.mkdtemp(prefix="vppdesc-", dir="/tmp"))
    yield str(path / "api.sock")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def sim(sock_path: str) -> AsyncIterator[SimHandle]:
    handle = SimHandle(sock_path)
    await handle.start()
    yield handle
    await handle.close()


@pytest.fixture
async def vpp(sim: SimHandle) -> AsyncIterator[VPPClient]:
    async with VPPClient(sim.path, timeout=5, retry_interval=0.01) as client:
        yield client


@pytest.fixture
def descriptors(vpp: VPPClient) -> list[AnyDescriptor]:
    return vpp_descriptors(vpp)


@pytest.fixture
def sched(descriptors: list[AnyDescriptor]) -> Scheduler:
    # Retries are not run by these tests (no run() task): a failure stays visible.
    return Scheduler(descriptors, retry=RetryPolicy(max_attempts=0))
