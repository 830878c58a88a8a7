"""Run netlink work inside a network namespace without forking.

pyroute2 enters a netns by forking a helper process; in the agent, which runs gRPC threads
(etcd client, CNI server), a fork segfaults the child. Instead a dedicated worker thread
switches *itself* into the target netns with ``setns(2)`` (namespaces are per thread), opens
its netlink socket there, and switches back. A missing netns is reported, never created.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
from collections.abc import Callable
from typing import TypeVar

from pyroute2 import IPRoute

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
# One thread: netlink work is short, and a single thread keeps setns/restore trivially safe.
_worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="contivpp-netlink")


class NetnsMissing(Exception):
    """The netns path does not exist (the pod is gone)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def call_in_netns(netns: str, work: Callable[[IPRoute], T]) -> T:
    """Blocking: run ``work(ipr)`` in ``netns`` on the calling thread (not the event loop)."""
    if not netns:
        with IPRoute() as ipr:
            return work(ipr)
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise NetnsMissing(netns) from exc
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            with IPRoute() as ipr:
                return work(ipr)
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


async def in_netns(netns: str, work: Callable[[IPRoute], T]) -> T:
    """Run ``work(ipr)`` with an rtnetlink socket in ``netns`` ("" = the agent's own)."""
    return await asyncio.get_running_loop().run_in_executor(_worker, call_in_netns, netns, work)
