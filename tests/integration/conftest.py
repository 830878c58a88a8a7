"""Fixtures shared by the integration tests: a real etcd on free loopback ports.

``tests/`` is put on ``sys.path`` so the reusable helpers there (``etcd_server``,
``k8s_api_server``) import by name from any test folder.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etcd_server import EtcdServer


@pytest.fixture
def etcd_server() -> Iterator[EtcdServer]:
    """A fresh, empty etcd (data on /dev/shm), removed after the test; can stop/restart/wipe."""
    with EtcdServer() as server:
        yield server
