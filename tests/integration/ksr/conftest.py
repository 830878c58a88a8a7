"""Fixtures for the KSR / datastore integration tests (helpers: ``ksr_harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from ksr_harness import Cluster

from contivpp.datastore.etcd import EtcdStore
from etcd_server import EtcdServer
from k8s_api_server import FakeKubeAPI


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """Unconfigured structlog for the test (so capture_logs sees every line), then restore."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture
async def cluster(
    etcd_server: EtcdServer, tmp_path: Path, restore_structlog: None
) -> AsyncIterator[Cluster]:
    api = FakeKubeAPI(bookmark_interval=0.2)
    await api.start()
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    store = EtcdStore([(etcd_server.host, etcd_server.port)], timeout=2.0)
    c = Cluster(etcd_server, api, kubeconfig, store)
    try:
        yield c
    finally:
        await c.close()
