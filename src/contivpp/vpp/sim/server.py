"""The simulator's unix-socket server: connections, dispatch, replies, dumps and events.

Real VPP cannot run in CI, yet the agent must run unchanged against it; so the simulator speaks
VPP's socket transport byte for byte (framing, handshake, message table, dump / ping protocol,
events) and hands each decoded request to the area handlers. Every client is served in order
on one event loop, as VPP serves all clients on its main thread. Requests it does not implement
are answered (``retval = -9``, UNIMPLEMENTED; for old-style dumps the closing ping carries it)
rather than left unanswered, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import structlog

from contivpp import private
from contivpp.errors import VPPError
from contivpp.vpp import apidefs
from contivpp.vpp import retvals as rv
from contivpp.vpp.apidefs import ApiDefinitions, Service
from contivpp.vpp.sim import (
    acl,
    af_packet,
    control,
    interfaces,
    ip,
    l2,
    nat,
    nat_sessions,
    vxlan,
)
from contivpp.vpp.sim.forwarder import CLIENT_NAME, Forwarder, VxlanConfig
from contivpp.vpp.sim.linux import LinuxTaps
from contivpp.vpp.sim.protocol import (
    HEADER_SIZE,
    MAX_BODY,
    DecodeError,
    MessageTable,
    body_length,
    frame,
)
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.state import SimState
from contivpp.vpp.sim.wire import Fields, Msg, plain

log = structlog.get_logger(__name__)

#: Bit 31 marks a socket client's handle; slot 0 is the listening socket, as in VPP.
SOCKET_CLIENT_BIT = 0x80000000


#: Requests that change nothing the forwarder reads (besides dumps), by name.
READ_ONLY = frozenset({"control_ping", "sockclnt_create", "sockclnt_delete", "get_first_msg_id"})


def read_only(name: str) -> bool:
    """True for requests that only read (``show_version``, ``sw_interface_get_table``,
    ``nat44_show_running_config`` ...): the keep-alives and look-ups of the agent and of
    ``contivpp trace`` must not make the forwarder re-read its snapshot."""
    return (
        name in READ_ONLY or name.startswith(("show_", "get_")) or "_get_" in name
        or name.endswith("_show_running_config")
    )  # fmt: skip


def all_handlers() -> HandlerTable:
    table = HandlerTable()
    for module in (control, interfaces, af_packet, ip, l2, vxlan, nat, nat_sessions, acl):
        table.merge(module.handlers)
    return table


@attrs.define(eq=False)
class Client:
    """One accepted connection (one client registration)."""

    index: int
    writer: asyncio.StreamWriter
    name: str = ""
    #: The pid given to want_interface_events, or None when not subscribed.
    event_pid: int | None = None
    #: Old-style dumps that failed, by context: their closing control_ping carries the retval.
    failed_dumps: dict[int, int] = attrs.field(factory=dict)
    closing: bool = False


class Simulator:
    """A simulated VPP listening on a unix socket. A new instance is a freshly started VPP."""

    def __init__(
        self,
        *,
        linux_taps: bool = False,
        defs: ApiDefinitions | None = None,
        seed: int | None = None,
        vxlan: VxlanConfig | None = None,
    ) -> None:
        self.defs = defs or apidefs.load()
        self.table = MessageTable(self.defs)
        self.api_json = self.defs.api_json_array()
        self.handlers = all_handlers()
        self.state = SimState(linux=LinuxTaps() if linux_taps else None, rng=random.Random(seed))
        self.pid = os.getpid()
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.socket_path: Path | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[int, Client] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_slot = 1
        #: Bumped by every request that may change the configuration (any request but a dump
        #: or a read-only one, from any client but the forwarder): the forwarder re-reads its
        #: snapshot then.
        self.generation = 0
        #: With real taps, the simulator forwards what pods send (see :mod:`.forwarder`).
        self.forwarder: Forwarder | None = Forwarder(self, vxlan) if linux_taps else None

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self, socket_path: str | os.PathLike[str]) -> None:
        path = Path(socket_path)
        # VPP removes a stale socket file before binding, so does the simulator.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        # Its callers create interfaces in any netns as root: 0600 whatever the umask.
        with private.private_umask():
            self._server = await asyncio.start_unix_server(self._serve, path=str(path))
        private.seal(path)
        self.socket_path = path
        if self.forwarder is not None and self.state.linux is not None:
            try:
                await self.forwarder.start(str(path))
            except (OSError, VPPError):
                await self.close()  # no half-started VPP: the socket goes with it
                raise
            self.state.linux.listener = self.forwarder
        log.info("vppsim_started", socket=str(path), pid=self.pid, linux_taps=self.linux_taps)

    @property
    def linux_taps(self) -> bool:
        return self.state.linux is not None

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def close(self) -> None:
        """Stop like VPP exiting: drop every client, release host taps, remove the socket."""
        if self.forwarder is not None:
            # It stays the taps' listener: releasing them below removes its readers.
            await self.forwarder.close()
            self.forwarder = None
        if self._server is not None:
            self._server.close()
        for client in list(self._clients.values()):
            client.writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.state.linux is not None:
            self.state.linux.close()
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        log.info("vppsim_stopped", socket=str(self.socket_path))

    def dump_state(self) -> dict[str, Any]:
        """The whole simulated configuration as plain JSON-able data."""
        snapshot: dict[str, Any] = plain(self.state.snapshot())
        return snapshot

    # ---- connections ------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        client = Client(index=SOCKET_CLIENT_BIT | self._next_slot, writer=writer)
        self._next_slot += 1
        self._clients[client.index] = client
        log.info("vppsim_client_connected", client_index=client.index)
        try:
            while not client.closing:
                length = body_length(await reader.readexactly(HEADER_SIZE))
                if length > MAX_BODY:
                    log.warning(
                        "vppsim_client_bad_length", client_index=client.index, length=length
                    )
                    break
                self._dispatch(client, await reader.readexactly(length))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            del self._clients[client.index]
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            log.info("vppsim_client_disconnected", client_index=client.index, name=client.name)

    # ---- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, client: Client, body: bytes) -> None:
        mdef = self.table.lookup(body)
        if mdef is None:
            # VPP silently drops ids it has no handler for; the client times out.
            log.warning("vppsim_message_unknown_id", client_index=client.index, size=len(body))
            return
        service = self.defs.service(mdef.name)
        if service is None:
            log.warning("vppsim_message_not_a_request", message=mdef.name)
            return
        context = self.table.raw_context(mdef, body) or 0
        try:
            decoded = self.table.decode(mdef, body)
        except DecodeError as exc:
            log.warning("vppsim_message_undecodable", message=mdef.name, error=str(exc))
            self._fail(client, service, context, rv.INVALID_VALUE, {})
            return
        try:
            self._handle(client, service, Call(self.state, Msg(decoded), context, client, self))
        finally:
            self._publish_events()

    def _handle(self, client: Client, service: Service, call: Call) -> None:
        name = service.request
        dump = self.handlers.dumps.get(name) if service.stream else None
        request = None if service.stream else self.handlers.requests.get(name)
        if dump is None and request is None:
            log.warning("vppsim_message_unimplemented", message=name)
            self._fail(client, service, call.context, rv.UNIMPLEMENTED, {})
            return
        if dump is None and call.client.name != CLIENT_NAME and not read_only(name):
            self.generation += 1
        try:
            # Details are collected first so that a failing dump sends none of them.
            details = list(dump(call)) if dump is not None else []
            fields = request(call) if request is not None else {}
        except SimError as exc:
            self._fail(client, service, call.context, exc.retval, exc.fields)
            return
        except Exception:
            log.exception("vppsim_handler_crashed", message=name)
            self._fail(client, service, call.context, rv.UNSPECIFIED, {})
            return
        if dump is not None:
            self._send_details(client, service, call.context, details)
        else:
            fields.setdefault("retval", 0)
            self._send(client, service.reply, call.context, fields)

    def _send_details(
        self, client: Client, service: Service, context: int, details: Iterable[Fields]
    ) -> None:
        details_name = service.stream_msg or service.reply
        for fields in details:
            self._send(client, details_name, context, fields)
        if service.stream_msg:
            # New-style stream: the reply ends it (old-style dumps end with the client's ping).
            self._send(client, service.reply, context, {"retval": 0, "cursor": 0xFFFFFFFF})

    def _fail(
        self, client: Client, service: Service, context: int, retval: int, fields: Fields
    ) -> None:
        if service.stream and not service.stream_msg:
            client.failed_dumps[context] = retval
            return
        self._send(client, service.reply, context, {**fields, "retval": retval, "response": retval})

    def _send(self, client: Client, name: str, context: int, fields: Fields) -> None:
        fields["context"] = context
        client.writer.write(frame(self.table.encode(name, fields)))

    def _publish_events(self) -> None:
        events = self.state.pending_events
        if not events:
            return
        subscribers = [c for c in self._clients.values() if c.event_pid is not None]
        for event in events:
            for client in subscribers:
                body = self.table.encode(
                    "sw_interface_event",
                    {
                        "client_index": client.index,
                        "pid": client.event_pid,
                        "sw_if_index": event.sw_if_index,
                        "flags": event.flags,
                        "deleted": event.deleted,
                    },
                )
                client.writer.write(frame(body))
        events.clear()


async def serve(
    socket_path: str, *, linux_taps: bool = False, ready: asyncio.Event | None = None
) -> None:
    """Run a simulator on ``socket_path`` until cancelled; set ``ready`` once it listens."""
    sim = Simulator(linux_taps=linux_taps)
    await sim.start(socket_path)
    try:
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await sim.close()


#: How long a stopping simulator waits for its clean-up before it exits anyway.
CLOSE_TIMEOUT = 5.0


def run_simulator(
    socket_path: str, linux_taps: bool = False, vxlan: VxlanConfig | None = None
) -> int:
    """Blocking entry point for ``contivpp vppsim``: serve until SIGTERM / SIGINT.

    Returns the process exit code: 0 after a signal, 1 if the socket could not be opened.
    """

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sim = Simulator(linux_taps=linux_taps, vxlan=vxlan)
        try:
            await sim.start(socket_path)
        except (OSError, VPPError) as exc:
            log.error("vppsim_start_failed", socket=socket_path, error=str(exc))
            return 1
        try:
            await stop.wait()
        finally:
            try:
                # A signal must end the process: a close that hangs (a tap or a client that
                # does not let go) is logged, and the kernel releases what is left on exit.
                await asyncio.wait_for(sim.close(), CLOSE_TIMEOUT)
            except TimeoutError:
                log.error("vppsim_close_timed_out", socket=socket_path, seconds=CLOSE_TIMEOUT)
        return 0

    return asyncio.run(main())
