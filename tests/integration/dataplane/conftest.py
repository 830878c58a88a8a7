"""Fixtures of the real-traffic tests: a short work directory (unix socket paths are limited
to 107 bytes), for root only (network namespaces, taps)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def root_workdir() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    path = Path(tempfile.mkdtemp(prefix="ctvdp-", dir="/tmp"))
    yield path
    if not os.environ.get("KEEP"):  # KEEP=1 leaves the logs for debugging
        shutil.rmtree(path, ignore_errors=True)
