"""The agent's asyncio client for VPP's binary API: calls, dumps, events, reconnect, restarts.

Descriptors need four things from VPP and nothing else: send a request and get its reply or a
typed error, read tables back, learn that VPP restarted (every index they hold is then void and
the scheduler must resync), and map logical interface names to sw_if_indexes. :class:`VPPClient`
provides exactly that on top of :class:`contivpp.vpp.papi.PapiConnection` (vpp_papi's async
client, fixed): many requests in flight on one socket, a timeout on every call, automatic
reconnect with backoff, and translation of ``retval != 0`` into
:class:`contivpp.errors.VPPApiError` (see :mod:`contivpp.vpp.retvals` for what is retriable).

Restart detection: VPP never closes a live client's socket, so a lost connection means VPP went
away; after reconnecting, the client compares VPP's pid (``control_ping_reply.vpe_pid``) and
queues a :class:`VPPRestart` either way (an in-process simulator restarts with the same pid).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import structlog
from vpp_papi.macaddress import MACAddress

from contivpp.errors import VPPConnectionError, VPPError, VPPTimeoutError, VPPUsageError
from contivpp.vpp import apidefs
from contivpp.vpp.apidefs import API_DIR, Service
from contivpp.vpp.ifindex import InterfaceIndex
from contivpp.vpp.papi import PapiConnection
from contivpp.vpp.retvals import EAGAIN, api_error

log = structlog.get_logger(__name__)

DEFAULT_SOCKET = "/run/vpp/api.sock"
#: Events beyond this many unconsumed ones are dropped (and logged), not buffered forever.
EVENT_QUEUE_SIZE = 4096


@attrs.frozen
class Message:
    """A decoded VPP message: its name and fields.

    Fields are as vpp_papi decodes them, made plain: integers (enums as ``int``), ``bool``,
    ``str``, ``bytes``, :mod:`ipaddress` objects (addresses, networks, interfaces), MAC addresses
    as ``"aa:bb:cc:dd:ee:ff"`` strings, nested structs as dicts and arrays as lists. Read them as
    attributes (``reply.sw_if_index``) or items (``reply["sw_if_index"]``).
    """

    name: str
    fields: Mapping[str, Any]

    def __getattr__(self, field: str) -> Any:
        try:
            return self.fields[field]
        except KeyError:
            raise AttributeError(f"{self.name} has no field {field!r}") from None

    def __getitem__(self, field: str) -> Any:
        return self.fields[field]

    def get(self, field: str, default: Any = None) -> Any:
        return self.fields.get(field, default)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {f: _plain(getattr(value, f)) for f in value._fields}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, MACAddress):
        return str(value)
    if isinstance(value, enum.Enum):
        return int(value.value)
    return value


def to_message(decoded: Any) -> Message:
    """Wrap a vpp_papi namedtuple (dropping its ``_vl_msg_id``, renamed ``_0`` by vpp_papi)."""
    fields = {f: _plain(getattr(decoded, f)) for f in decoded._fields if f != "_0"}
    return Message(type(decoded).__name__, fields)


def _usage_error(text: str) -> VPPError:
    """A request VPP can never accept from us (wrong name, fields, or message kind)."""
    return VPPUsageError(text)


@attrs.frozen
class VPPRestart:
    """VPP went away and the client is connected again: all VPP state and indices are new."""

    #: Increases by one per restart; descriptors can stamp metadata with it.
    generation: int
    previous_pid: int | None
    pid: int
    #: Why it counts as a restart: "pid changed" or "connection lost".
    reason: str


class VPPClient:
    """Asyncio client of one VPP (or simulator) API socket. Use ``async with`` or connect/close."""

    def __init__(
        self,
        socket_path: str = DEFAULT_SOCKET,
        *,
        name: str = "contivpp-agent",
        timeout: float = 5.0,
        connect_timeout: float = 10.0,
        retry_interval: float = 0.05,
        max_retry_interval: float = 2.0,
        api_dir: Path = API_DIR,
    ) -> None:
        self.socket_path = socket_path
        self.name = name
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._retry_interval = retry_interval
        self._max_retry_interval = max_retry_interval
        self._defs = apidefs.load(api_dir)
        #: One :class:`VPPRestart` per detected restart, for the agent's ``vpp.restarted`` event.
        self.restarts: asyncio.Queue[VPPRestart] = asyncio.Queue()
        #: Unsolicited messages (``sw_interface_event`` ...), once subscribed.
        self.events: asyncio.Queue[Message] = asyncio.Queue(EVENT_QUEUE_SIZE)
        #: Logical interface name -> sw_if_index; cleared on restart.
        self.interfaces = InterfaceIndex()
        self._conn: PapiConnection | None = None
        self._up = asyncio.Event()
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._generation = 0
        self._pid: int | None = None
        self._interface_events = False

    # ---- lifecycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> VPPClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect, retrying for ``connect_timeout`` seconds (VPP may still be starting).

        Raises :class:`VPPConnectionError` if VPP does not answer in that time. Once connected,
        the client reconnects by itself whenever the connection drops, until :meth:`close`.
        """
        if self._supervisor is not None:
            return
        self._closed = False
        conn = await self._open(deadline=asyncio.get_running_loop().time() + self.connect_timeout)
        try:
            await self._adopt(conn, restarted=False)
        except (VPPError, TimeoutError) as exc:
            await conn.abort()
            raise VPPConnectionError(f"VPP at {self.socket_path} did not answer: {exc}") from exc
        self._supervisor = asyncio.create_task(self._supervise(), name="vpp-client-supervisor")

    async def close(self) -> None:
        """Say goodbye to VPP and stop reconnecting."""
        self._closed = True
        self._up.clear()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._conn is not None:
            await self._conn.close_gracefully(self.timeout)
            self._conn = None
        log.info("vpp_closed", socket=self.socket_path)

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    @property
    def generation(self) -> int:
        """0 for the VPP first connected to, +1 after each restart."""
        return self._generation

    @property
    def vpp_pid(self) -> int | None:
        return self._pid

    def supports(self, name: str) -> bool:
        """True if VPP knows ``name`` with the CRC of our definitions (so it can be called)."""
        if self._conn is not None and self.connected:
            return self._conn.has(name)
        return name in self._defs.services

    # ---- requests -----------------------------------------------------------------------------
    async def call(
        self,
        name: str,
        /,
        *,
        # The bound also covers waiting for a reconnect, and a default applies to every call.
        timeout: float | None = None,  # noqa: ASYNC109
        **fields: Any,
    ) -> Message:
        """Send request ``name`` and return its reply.

        Raises :class:`VPPApiError` for ``retval != 0``, :class:`VPPTimeoutError` after
        ``timeout`` (default: the client's), :class:`VPPConnectionError` if VPP is unreachable.
        """
        service = self._service(name)
        if service.stream:
            raise _usage_error(f"{name} is a dump; use dump()")
        reply = to_message(await self._request(name, fields, timeout))
        retval = reply.get("retval", 0)
        if retval:
            raise api_error(name, int(retval))
        return reply

    async def dump(
        self,
        name: str,
        /,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        **fields: Any,
    ) -> list[Message]:
        """Send dump / stream request ``name`` and return every details message."""
        service = self._service(name)
        if not service.stream:
            raise _usage_error(f"{name} is not a dump; use call()")
        if service.stream_msg is None:
            end, details = await self._request(name, fields, timeout)
            # VPP ends a dump with the ping reply; a simulator that cannot serve it says so there.
            if end.retval:
                raise api_error(name, int(end.retval))
            return [to_message(d) for d in details]
        out: list[Message] = []
        cursor = 0
        while True:  # new-style stream: EAGAIN means "more, call again from cursor"
            end, details = await self._request(name, {**fields, "cursor": cursor}, timeout)
            out.extend(to_message(d) for d in details)
            if end.retval == EAGAIN:
                cursor = int(end.cursor)
                continue
            if end.retval:
                raise api_error(name, int(end.retval))
            return out

    async def watch_interface_events(self) -> None:
        """Subscribe to ``sw_interface_event`` (into :attr:`events`), also after restarts."""
        if self._interface_events:
            return
        await self.call("want_interface_events", enable_disable=1, pid=os.getpid())
        self._interface_events = True

    async def refresh_interfaces(self) -> InterfaceIndex:
        """Rebuild :attr:`interfaces` from VPP (logical names are the interface tags)."""
        self.interfaces.rebuild(await self.dump("sw_interface_dump"))
        return self.interfaces

    def _service(self, name: str) -> Service:
        service = self._defs.service(name)
        if service is None:
            raise _usage_error(f"{name!r} is not a VPP request message")
        return service

    async def _request(self, name: str, fields: dict[str, Any], limit: float | None) -> Any:
        limit = self.timeout if limit is None else limit
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            if not self._up.is_set():  # the common case needs no waiter task
                await asyncio.wait_for(self._up.wait(), limit)
        except TimeoutError:
            raise VPPConnectionError(
                f"{name}: not connected to VPP at {self.socket_path}"
            ) from None
        conn = self._conn
        assert conn is not None
        if not conn.has(name):
            raise _usage_error(
                f"{name}: not in VPP's message table (plugin missing or CRC differs)"
            )
        try:
            future = conn.send(name, fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise _usage_error(f"{name}: cannot encode request: {exc}") from exc
        try:
            return await asyncio.wait_for(future, max(deadline - loop.time(), 0))
        except TimeoutError:
            raise VPPTimeoutError(f"{name}: no reply from VPP within {limit:g}s") from None

    # ---- connection management ----------------------------------------------------------------
    async def _open(self, deadline: float | None) -> PapiConnection:
        loop = asyncio.get_running_loop()
        delay = self._retry_interval
        while True:
            conn = PapiConnection(self.socket_path, self._defs, self._on_unsolicited)
            try:
                await asyncio.wait_for(conn.open(self.name), self.timeout)
                return conn
            except (VPPConnectionError, TimeoutError) as exc:
                await conn.abort()
                if self._closed or (deadline is not None and loop.time() + delay > deadline):
                    raise VPPConnectionError(
                        f"cannot connect to VPP at {self.socket_path}: {exc}"
                    ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry_interval)

    async def _adopt(self, conn: PapiConnection, *, restarted: bool) -> None:
        """Make ``conn`` the live connection (after asking VPP its pid, renewing events)."""
        ping = await asyncio.wait_for(conn.send("control_ping", {}), self.timeout)
        if restarted and self._interface_events:
            subscribe = {"enable_disable": 1, "pid": os.getpid()}
            await asyncio.wait_for(conn.send("want_interface_events", subscribe), self.timeout)
        pid, previous = int(ping.vpe_pid), self._pid
        self._conn, self._pid = conn, pid
        if restarted:
            self._generation += 1
            self.interfaces.clear()
        self._up.set()
        log.info(
            "vpp_connected",
            socket=self.socket_path,
            client_index=conn.client_index,
            vpp_pid=pid,
            generation=self._generation,
        )
        if restarted:
            reason = "pid changed" if pid != previous else "connection lost"
            self.restarts.put_nowait(VPPRestart(self._generation, previous, pid, reason))
            log.warning("vpp_restarted", generation=self._generation, vpp_pid=pid, reason=reason)

    async def _supervise(self) -> None:
        try:
            while not self._closed:
                conn = self._conn
                assert conn is not None
                await conn.lost.wait()
                self._up.clear()
                log.warning("vpp_connection_lost", socket=self.socket_path)
                await conn.abort()
                while not self._closed:
                    fresh = await self._open(deadline=None)
                    try:
                        await self._adopt(fresh, restarted=True)
                        break
                    except (VPPError, TimeoutError) as exc:
                        log.warning("vpp_reconnect_failed", error=str(exc))
                        await fresh.abort()
        except Exception:
            # Without the supervisor nobody reconnects; calls then fail as not connected.
            log.exception("vpp_supervisor_crashed", socket=self.socket_path)
            raise

    def _on_unsolicited(self, item: Any) -> None:
        mdef = self._defs.messages.get(type(item).__name__)
        if mdef is not None and "context" in mdef.fields:
            # A reply whose caller already gave up (timeout).
            log.debug("vpp_reply_orphaned", message=mdef.name)
            return
        try:
            self.events.put_nowait(to_message(item))
        except asyncio.QueueFull:
            log.warning("vpp_event_dropped", message=type(item).__name__)
