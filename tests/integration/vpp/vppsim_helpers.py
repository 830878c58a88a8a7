"""Helpers shared by the VPP simulator integration tests (imported by name: keep it unique).

The simulator runs on its own event loop in a background thread, so both the blocking vpp_papi
client (used directly in test functions) and the asyncio clients (on the test's loop) can talk to
it exactly as they would to VPP.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from vpp_papi import VPPApiClient

from contivpp.vpp.apidefs import API_DIR
from contivpp.vpp.sim import Simulator

NO_INDEX = 0xFFFFFFFF


class SimThread:
    """A simulator on a private event loop in a daemon thread."""

    def __init__(self, socket_path: str, *, linux_taps: bool = False) -> None:
        self.path = socket_path
        self.linux_taps = linux_taps
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim: Simulator | None = None

    def _run(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, cls: type[Simulator] = Simulator, **kwargs: Any) -> Simulator:
        async def start() -> Simulator:
            sim = cls(linux_taps=self.linux_taps, **kwargs)
            await sim.start(self.path)
            return sim

        self.sim = self._run(start())
        return self.sim

    def stop(self) -> None:
        if self.sim is not None:
            self._run(self.sim.close())
            self.sim = None

    def restart(self) -> Simulator:
        """Like restarting VPP: all clients dropped, all state gone, same socket path."""
        self.stop()
        return self.start()

    def state(self) -> dict[str, Any]:
        assert self.sim is not None
        sim = self.sim

        async def snapshot() -> dict[str, Any]:
            return sim.dump_state()

        return self._run(snapshot())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def papi_client(socket_path: str, name: str = "pytest", **kwargs: Any) -> VPPApiClient:
    """A connected blocking vpp_papi client, loaded from the packaged API definitions."""
    client = VPPApiClient(
        apidir=str(API_DIR), use_socket=True, server_address=socket_path, read_timeout=5, **kwargs
    )
    client.connect(name)
    return client
