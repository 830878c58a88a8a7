"""``contivpp stn``: the steal-the-NIC daemon, serving Contiv's STN gRPC API on a unix socket.

On a node with a single NIC, VPP must own that NIC while the host keeps the node's address
(through VPP). The agent asks this daemon to *steal* the NIC: the daemon records its
addresses, routes, MTU, MAC and link state, persists the record, then strips the NIC and
sets it down, and hands the record to the agent, which configures VPP and the host side with
it. The daemon runs outside the agent (a DaemonSet of its own) because its job starts when
the agent dies: the agent calls ``StolenInterfaceInfo`` as a keep-alive, and a NIC whose
keep-alive stops for ``keepalive_timeout`` seconds is given back to the host exactly as it
was, so a node whose vswitch is gone is still reachable. A restarted daemon reads its record
and carries on (grace of one timeout for the agent to call again); SIGTERM does not give the
NIC back, since that is how a daemon update starts, not how the agent ends.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import structlog
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from contivpp import private
from contivpp.errors import STNError
from contivpp.linux.netns import in_netns
from contivpp.stn import nic
from contivpp.stn.nic import NicConfig
from contivpp.stn.proto import stn_pb2, stn_pb2_grpc
from contivpp.stn.state import StolenStore

log = structlog.get_logger("contivpp.stn")

DEFAULT_SOCKET = Path("/var/run/contivpp/stn.sock")
DEFAULT_STATE_DIR = Path("/var/lib/contivpp/stn")
IFNAMSIZ = 16
# Contiv re-checked a restore for 20 x 200 ms before calling it failed.
RESTORE_CHECKS = 20
RESTORE_CHECK_INTERVAL = 0.2
RELEASE_RETRY = 5.0  # a failed give-back (the NIC not back yet) is tried again after this
T = TypeVar("T")


async def _netlink(what: str, work: Callable[[IPRoute], T]) -> T:
    """Netlink work on the worker thread, its errors translated into :class:`STNError`."""
    try:
        return await in_netns("", work)
    except NetlinkError as exc:
        raise STNError(f"{what}: netlink: {os.strerror(exc.code)} ({exc.code})") from exc


class STNDaemon:
    """The stolen NICs, their keep-alive deadlines, and the steal / release operations."""

    def __init__(
        self,
        store: StolenStore,
        keepalive_timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.keepalive_timeout = keepalive_timeout
        self._clock = clock
        self.stolen = store.load()
        # A restarted daemon gives the agent one full timeout to call again.
        self.deadlines = {name: clock() + keepalive_timeout for name in self.stolen}
        self._lock = asyncio.Lock()  # one NIC operation at a time, watchdog included
        for name, config in self.stolen.items():
            log.info("stn_stolen_loaded", interface=name, addresses=list(config.addresses))

    async def steal(self, name: str, *, dhcp: bool = False) -> NicConfig:
        """Take ``name`` from the host; the record of what it had (again, if already taken)."""
        _check_name(name)
        async with self._lock:
            if name in self.stolen:
                self.deadlines[name] = self._clock() + self.keepalive_timeout
                return self.stolen[name]
            config = await _netlink(name, lambda ipr: nic.record(ipr, name, dhcp=dhcp))
            # persisted before the NIC is touched: a crash from here on can still restore it
            self.store.save({**self.stolen, name: config})
            self.stolen[name] = config
            self.deadlines[name] = self._clock() + self.keepalive_timeout
            try:
                await _netlink(name, lambda ipr: nic.take(ipr, config))
            except STNError:
                # half taken is the worst state: put back what was taken, then report
                await _netlink(name, lambda ipr: nic.restore(ipr, config))
                self._forget(name)
                raise
            log.info(
                "stn_interface_stolen",
                interface=name,
                addresses=list(config.addresses),
                routes=len(config.routes),
                pci_address=config.pci_address,
            )
            return config

    async def release(self, name: str, *, reason: str = "released") -> NicConfig:
        """Give ``name`` back as recorded; forget it only once the host has it all again."""
        _check_name(name)
        async with self._lock:
            config = self.stolen.get(name)
            if config is None:
                raise STNError(f"interface {name!r} is not stolen")
            if await asyncio.to_thread(nic.rebind_driver, config):
                log.info(
                    "stn_driver_rebound",
                    interface=name,
                    pci_address=config.pci_address,
                    driver=config.kernel_driver,
                )
                await self._wait_for_netdev(name)
            await _netlink(name, lambda ipr: nic.restore(ipr, config))
            for _ in range(RESTORE_CHECKS):
                lacking = await _netlink(name, lambda ipr: nic.missing(ipr, config))
                if not lacking:
                    break
                await asyncio.sleep(RESTORE_CHECK_INTERVAL)
            else:
                raise STNError(f"interface {name!r}: not fully restored: {', '.join(lacking)}")
            self._forget(name)
            log.info("stn_interface_restored", interface=name, reason=reason)
            return config

    async def _wait_for_netdev(self, name: str) -> None:
        """After a rebind the driver registers the netdev again; give it Contiv's 4 s."""
        for _ in range(RESTORE_CHECKS):
            if await _netlink(name, lambda ipr: bool(ipr.link_lookup(ifname=name))):
                return
            await asyncio.sleep(RESTORE_CHECK_INTERVAL)

    def _forget(self, name: str) -> None:
        remaining = {n: c for n, c in self.stolen.items() if n != name}
        self.store.save(remaining)
        self.stolen = remaining
        self.deadlines.pop(name, None)

    def info(self, name: str) -> NicConfig:
        """The record of a stolen NIC; the call is the agent's keep-alive for it."""
        _check_name(name)
        config = self.stolen.get(name)
        if config is None:
            raise STNError(f"interface {name!r} is not stolen")
        self.deadlines[name] = self._clock() + self.keepalive_timeout
        return config

    async def watch_keepalives(self, period: float | None = None) -> None:
        """Give back every NIC whose agent stopped calling; runs until cancelled."""
        period = period if period is not None else min(1.0, self.keepalive_timeout / 4)
        while True:
            await asyncio.sleep(period)
            now = self._clock()
            for name in [n for n, d in self.deadlines.items() if d <= now]:
                log.warning("stn_keepalive_lost", interface=name, timeout=self.keepalive_timeout)
                try:
                    await self.release(name, reason="keepalive lost")
                except STNError as exc:
                    log.error("stn_release_failed", interface=name, error=str(exc))
                    self.deadlines[name] = self._clock() + RELEASE_RETRY


def _check_name(name: str) -> None:
    if not name:
        raise STNError("interface_name is empty")
    if len(name) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise STNError(f"interface_name {name!r}: not a valid Linux interface name")


def reply_from_config(config: NicConfig) -> stn_pb2.STNReply:
    reply = stn_pb2.STNReply(
        result=0,
        pci_address=config.pci_address,
        kernel_driver=config.kernel_driver,
        ip_addresses=list(config.addresses),
    )
    for route in config.routes:
        reply.routes.add(destination_subnet=route.destination, next_hop_ip=route.gateway)
    return reply


class STNServicer(stn_pb2_grpc.STNServicer):
    """Contiv's reply convention: ``result`` 0 with the record, else 1 and ``error``."""

    def __init__(self, daemon: STNDaemon) -> None:
        self.daemon = daemon

    async def _answer(
        self, call: str, request: stn_pb2.STNRequest, work: Callable[[], Awaitable[NicConfig]]
    ) -> stn_pb2.STNReply:
        try:
            config = await work()
        except STNError as exc:
            log.warning(
                "stn_request_failed", call=call, interface=request.interface_name, error=str(exc)
            )
            return stn_pb2.STNReply(result=1, error=str(exc))
        return reply_from_config(config)

    async def StealInterface(
        self, request: stn_pb2.STNRequest, context: object
    ) -> stn_pb2.STNReply:
        return await self._answer(
            "StealInterface",
            request,
            lambda: self.daemon.steal(request.interface_name, dhcp=request.dhcp_enabled),
        )

    async def ReleaseInterface(
        self, request: stn_pb2.STNRequest, context: object
    ) -> stn_pb2.STNReply:
        return await self._answer(
            "ReleaseInterface", request, lambda: self.daemon.release(request.interface_name)
        )

    async def StolenInterfaceInfo(
        self, request: stn_pb2.STNRequest, context: object
    ) -> stn_pb2.STNReply:
        async def info() -> NicConfig:
            return self.daemon.info(request.interface_name)

        return await self._answer("StolenInterfaceInfo", request, info)


async def start_server(path: Path, daemon: STNDaemon) -> grpc.aio.Server:
    """Serve the STN API on a unix socket that only root can use; the caller stops it."""
    private.prepare(path)
    server = grpc.aio.server()
    stn_pb2_grpc.add_STNServicer_to_server(STNServicer(daemon), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix://{path}")
    # the socket is born 0600 (not chmod-ed after a window in which anyone could connect)
    with private.private_umask():
        await server.start()
    private.seal(path)
    return server


async def run_stn(
    socket_path: Path = DEFAULT_SOCKET,
    state_dir: Path = DEFAULT_STATE_DIR,
    keepalive_timeout: float = 30.0,
) -> None:
    """Run the daemon until cancelled: the entry point of ``contivpp stn``."""
    if not keepalive_timeout > 0:
        raise STNError(f"--keepalive-timeout: must be > 0, got {keepalive_timeout}")
    daemon = STNDaemon(StolenStore(state_dir), keepalive_timeout)
    server = await start_server(socket_path, daemon)
    log.info(
        "stn_listening",
        socket=str(socket_path),
        state_dir=str(state_dir),
        keepalive_timeout=keepalive_timeout,
        stolen=sorted(daemon.stolen),
    )
    try:
        await daemon.watch_keepalives()
    finally:
        await server.stop(grace=1.0)
