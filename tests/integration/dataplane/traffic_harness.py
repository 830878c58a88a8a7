"""Real traffic between pods: helpers the traffic tests share with ``contivpp demo``.

The pods are the agent tests' (``agent_harness``: a simulator with real taps, the agent, CNI);
the probe, the servers and the Kubernetes objects written to etcd as the KSR writes them live
in :mod:`contivpp.demo` (the demo runs the same traffic); this module adds the polling.
"""

from __future__ import annotations

import asyncio

from contivpp.demo import (
    ping,
    pod_object,
    policy_object,
    probe,
    put_objects,
    service_objects,
    start_server,
)

__all__ = [
    "eventually",
    "ping",
    "pod_object",
    "policy_object",
    "probe",
    "put_objects",
    "service_objects",
    "start_server",
]


async def eventually(check: object, what: str, timeout: float = 20.0) -> None:
    """Await ``check()`` (sync, run in a thread) until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.3)
