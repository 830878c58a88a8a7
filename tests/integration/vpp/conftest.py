"""Fixtures for the VPP simulator integration tests: a fresh simulator per test (an empty VPP)
on a short socket path (unix socket paths are limited to 107 bytes), and vpp_papi clients."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vpp_papi import VPPApiClient
from vppsim_helpers import SimThread, papi_client


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vppsim-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: Path) -> str:
    return str(sock_dir / "api.sock")


@pytest.fixture
def sim(sock_path: str) -> Iterator[SimThread]:
    thread = SimThread(sock_path)
    thread.start(seed=1)
    yield thread
    thread.close()


@pytest.fixture
def vpp(sim: SimThread) -> Iterator[Any]:
    """A connected blocking vpp_papi client; use ``vpp.api.<message>(...)``."""
    client = papi_client(sim.path)
    yield client.api
    client.disconnect()


@pytest.fixture
def vpp_client(sim: SimThread) -> Iterator[VPPApiClient]:
    """The raw vpp_papi client object (for events / disconnect tests)."""
    client = papi_client(sim.path)
    yield client
    if client.transport.connected:
        client.disconnect()
