"""``contivpp demo`` end to end: real traffic, the policy that stops it, the trace, cleanup."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def test_demo_runs_real_traffic_and_traces_the_denied_flow() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    out = subprocess.run(
        [sys.executable, "-m", "contivpp.cli", "--log-level", "warning", "demo"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "ping web-0 10.1.1.2: CONNECTED 10.1.1.2" in lines
    assert "HTTP 10.96.0.10:80: CONNECTED HTTP/1.0 200 OK" in lines
    assert "HTTP 10.96.0.10:80 from db-0: TIMEOUT  (denied)" in lines
    assert "HTTP web-0 10.1.1.2:8080 from web-1: CONNECTED HTTP/1.0 200 OK  (allowed)" in lines
    assert any(
        line.startswith("10.96.0.10:80  tcp    10.1.1.2:8080 (weight 1), 10.1.1.3:8080")
        for line in lines
    ), "the NAT44 table lists the service"
    verdict = next(line for line in lines if line.lstrip().startswith("=> "))
    assert re.match(r"=> DROPPED at acl-out on demo-node: ACL \d+ .policy-", verdict.strip())
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "contivpp-demo" not in leftovers
