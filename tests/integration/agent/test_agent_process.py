"""``contivpp agent --config`` as a process: readiness, metrics, clean stop on SIGTERM,
and a clear message for a bad config file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from agent_harness import VppSim

from etcd_server import EtcdServer, free_port

CLI = [sys.executable, "-m", "contivpp.cli", "--log-format", "json"]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_agent_process_serves_probes_and_metrics_and_stops_cleanly(
    workdir: Path, etcd_server: EtcdServer
) -> None:
    sim = VppSim(workdir / "vpp.sock", linux_taps=False)
    sim.start()
    port = free_port()
    config = workdir / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "nodeName": "proc-node",
                "etcdEndpoints": [f"{etcd_server.host}:{etcd_server.port}"],
                "vppSocket": str(sim.socket),
                "cniSocket": str(workdir / "cni.sock"),
                "cniGrpcSocket": str(workdir / "cni-grpc.sock"),
                "httpAddress": f"127.0.0.1:{port}",
                "stateDir": str(workdir / "state"),
            }
        )
    )
    log = (workdir / "agent.log").open("wb")
    agent = subprocess.Popen([*CLI, "agent", "--config", str(config)], stderr=log)
    try:
        deadline = time.monotonic() + 30
        while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
            assert agent.poll() is None, (workdir / "agent.log").read_text()
            assert time.monotonic() < deadline, "agent never became ready"
            time.sleep(0.1)
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert 'contivpp_events_processed_total{type="ResyncRequested"} 1.0' in metrics
        assert "contivpp_event_lag_seconds_count" in metrics
        assert 'contivpp_transaction_duration_seconds_count{kind="full-resync"} 1.0' in metrics
        assert (workdir / "cni.sock").exists()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(15) == 0
        # No stale sockets: a CNI call now fails at connect (code 11), not on a dead file.
        assert not (workdir / "cni.sock").exists()
        assert not (workdir / "cni-grpc.sock").exists()
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        log.close()
        sim.stop()


def test_bad_config_is_a_one_line_error(workdir: Path) -> None:
    config = workdir / "agent.yaml"
    config.write_text("nodeName: x\nvppSockit: /tmp/x\n")
    proc = subprocess.run(
        [*CLI, "agent", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1
    assert "vppSockit: unknown setting" in proc.stderr and "Traceback" not in proc.stderr
