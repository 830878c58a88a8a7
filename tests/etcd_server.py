"""A real etcd for tests: one member on free loopback ports, with a throwaway data directory.

Integration tests of the KSR and the agent's datastore watcher must see what etcd really does
on a restart, a compaction or a wiped data directory, so they run Debian's etcd, not a fake.
Each :class:`EtcdServer` picks its own free ports (so test runs can share the machine), keeps
its data on ``/dev/shm`` when it exists (fsync on tmpfs is cheap), and can be stopped, killed,
restarted on the same ports, or wiped (restarted with an empty data directory, the way a lost
volume looks). ``close()`` always removes the process and the directory.

Use the ``etcd_server`` pytest fixture from ``tests/integration/conftest.py``, or::

    with EtcdServer() as etcd:
        host, port = etcd.host, etcd.port
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

ETCD_BINARY = os.environ.get("ETCD_BINARY", shutil.which("etcd") or "/usr/bin/etcd")


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tmp_base() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class EtcdServer:
    """One etcd member on 127.0.0.1; ``start`` waits until it answers ``/health``."""

    def __init__(self, *, name: str = "test", start_timeout: float = 20.0) -> None:
        self.name = name
        self.host = "127.0.0.1"
        self.port = free_port()
        self.peer_port = free_port()
        self.start_timeout = start_timeout
        self.root = Path(tempfile.mkdtemp(prefix="etcd-test-", dir=_tmp_base()))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "etcd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _command(self) -> list[str]:
        client = f"http://{self.host}:{self.port}"
        peer = f"http://{self.host}:{self.peer_port}"
        return [
            ETCD_BINARY,
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"{self.name}={peer}",
            "--initial-cluster-state",
            "new",
            "--logger",
            "zap",
            "--log-level",
            "warn",
            # A one-member cluster elects itself after one election timeout: keep it short.
            "--heartbeat-interval",
            "25",
            "--election-timeout",
            "250",
        ]

    def start(self) -> None:
        """Start etcd (on the same ports as before, after a stop) and wait until it is healthy."""
        if self.running:
            return
        for attempt in range(3):
            log = self.log_path.open("ab")
            try:
                self._proc = subprocess.Popen(
                    self._command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            finally:
                log.close()
            if self._wait_healthy():
                return
            self.kill()
            text = self.log_path.read_text(errors="replace")
            if "address already in use" in text and attempt < 2:
                # Another process took a port between free_port() and etcd's bind: move on.
                self.port, self.peer_port = free_port(), free_port()
                shutil.rmtree(self.data_dir, ignore_errors=True)
                continue
            raise RuntimeError(f"etcd did not start; log tail:\n{text[-2000:]}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        url = f"http://{self.host}:{self.port}/health"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if b'"true"' in resp.read():
                        return True
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop etcd cleanly (SIGTERM); its data stays for a restart."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill etcd at once (SIGKILL), like a crashed node."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def wipe(self) -> None:
        """Kill etcd, delete its data directory and start it empty (revision back to 1)."""
        self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EtcdServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
