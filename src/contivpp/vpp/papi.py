"""One connection to VPP through vpp_papi's asyncio client, with its 2.4.2 defects fixed.

vpp_papi's ``vpp_papi_async.VPPApiClient`` does the handshake, packing, context matching and
dump / ping bookkeeping we want, but as shipped (2.4.2) its socket reader dies on the first event
(it reads ``item.context`` on a message that has none), never notices the socket closing (every
pending call then hangs forever), learns its definitions from the server instead of from the
files our code was written against, and raises ``KeyError`` at connect when the server lacks any
message it knows. :class:`PapiConnection` overrides exactly those parts and is the typed boundary
around the untyped library; :mod:`contivpp.vpp.client` builds reconnects and timeouts on top.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from vpp_papi import vpp_papi_async
from vpp_papi.vpp_papi import VPPIOError
from vpp_papi.vpp_papi_async import VPPApiClient
from vpp_papi.vpp_serializer import FixedList, VLAList, VPPType

from contivpp.errors import VPPConnectionError, VPPError
from contivpp.vpp.apidefs import ApiDefinitions, Service

log = structlog.get_logger(__name__)

#: Receives every message that answers no pending call (events, late replies).
Unsolicited = Callable[[Any], None]


class _Sink:
    """The "event queue" vpp_papi's reader pushes unmatched messages into."""

    def __init__(self, deliver: Unsolicited) -> None:
        self._deliver = deliver

    def put_nowait(self, item: Any) -> None:
        self._deliver(item)


def complete(codec: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Fill in what vpp_papi insists on but can derive: array counts and fixed arrays.

    vpp_papi packs ``r[count]`` only if ``count`` is passed too, and refuses a struct whose
    fixed-size array (``fib_path.label_stack[16]``, ``mtu[4]``) is left out. Deriving both here
    (recursively, through nested structs and arrays of structs) keeps callers to the fields that
    carry meaning. Returns a new dict; explicit values are kept.
    """
    out = dict(fields)
    for name, packer in zip(codec.fields, codec.packers, strict=True):
        value = out.get(name)
        if isinstance(packer, VLAList):
            if isinstance(value, list):
                out.setdefault(packer.length_field, len(value))
                if isinstance(packer.packer, VPPType):
                    out[name] = [_complete_item(packer.packer, v) for v in value]
        elif isinstance(packer, FixedList):
            if value is None:
                empty: Any = {} if isinstance(packer.packer, VPPType) else 0
                out[name] = [empty] * packer.num
            elif isinstance(packer.packer, VPPType):
                out[name] = [_complete_item(packer.packer, v) for v in value]
        elif isinstance(packer, VPPType) and isinstance(value, Mapping):
            out[name] = complete(packer, value)
    return out


def _complete_item(codec: Any, value: Any) -> Any:
    return complete(codec, value) if isinstance(value, Mapping) else value


def _papi_service(service: Service) -> dict[str, Any]:
    # vpp_papi reads "stream" only when present; a present-but-false key breaks its call path.
    raw: dict[str, Any] = {"reply": service.reply}
    if service.stream:
        raw["stream"] = True
    if service.stream_msg:
        raw["stream_msg"] = service.stream_msg
    return raw


class PapiConnection(VPPApiClient):  # type: ignore[misc]  # vpp_papi is untyped
    """A single socket connection; discard it once :attr:`lost` is set."""

    def __init__(self, socket_path: str, defs: ApiDefinitions, on_unsolicited: Unsolicited) -> None:
        super().__init__(server_address=socket_path)
        # vpp_papi registers an atexit hook per client that could only ever call an async
        # disconnect() without awaiting it; dropping it keeps reconnects from piling hooks up.
        atexit.unregister(vpp_papi_async.vpp_atexit)
        self._defs = defs
        self._sink = _Sink(on_unsolicited)
        self._requests: dict[int, Any] = {}
        self._inflight: set[asyncio.Future[Any]] = set()
        #: Set when the socket closed or broke; every pending call has failed by then.
        self.lost = asyncio.Event()

    # ---- overrides of vpp_papi internals ------------------------------------------------------
    async def get_api_definitions(self) -> None:
        """Use the packaged definitions (what our code is written against), not the server's."""
        for name, mdef in self._defs.messages.items():
            self.messages[name] = mdef.codec
        for name, service in self._defs.services.items():
            self.services[name] = _papi_service(service)

    def _register_functions(self) -> None:
        # Same as vpp_papi, but a message missing from VPP's table (plugin not loaded, or a
        # different CRC) is skipped instead of failing the whole connect with KeyError.
        table = self.message_table
        self.id_names = [None] * (self.vpp_dictionary_maxid + 1)
        self.id_msgdef = [None] * (self.vpp_dictionary_maxid + 1)
        api = type("VPPApi", (), {})()
        for name, msg in self.messages.items():
            index = table.get(f"{name}_{msg.crc[2:]}", 0)
            if index <= 0:
                continue
            self.id_msgdef[index] = msg
            self.id_names[index] = name
            if name in self.services:
                setattr(api, name, self.make_function(msg, index, self.services[name]))
        self._api = api

    async def socket_reader(self, requests: dict[int, Any], event_queue: Any) -> None:
        """vpp_papi's reader, fixed: events do not kill it, and a closed socket fails calls."""
        del event_queue  # unmatched messages go to our sink instead
        self._requests = requests
        try:
            while True:
                try:
                    item = await self._read()
                except asyncio.IncompleteReadError:
                    break  # VPP closed the socket
                except VPPIOError as exc:
                    # The frame was read whole; only its decoding failed (unknown id).
                    log.warning("vpp_papi_undecodable", error=str(exc))
                    continue
                except OSError:
                    break  # the socket broke
                except Exception as exc:  # a body vpp_papi could not unpack; framing is intact
                    log.warning("vpp_papi_undecodable", error=repr(exc))
                    continue
                if item is not None:
                    self._route(requests, item)
        except asyncio.CancelledError:
            pass
        finally:
            self._fail_all(VPPConnectionError("VPP API socket closed"))

    def _route(self, requests: dict[int, Any], item: Any) -> None:
        context = getattr(item, "context", None)
        if context is None or context not in requests:
            self._sink.put_nowait(item)
            return
        req = requests[context]
        future, eof_name, stream_name, details = req
        name = type(item).__name__
        final = eof_name is None or name == eof_name
        if future.done():
            # The caller gave up (timeout); drop the rest of its answer quietly.
            if final:
                requests.pop(context, None)
            return
        if eof_name is None:
            future.set_result(item)
        elif name == eof_name:
            future.set_result((item, details))
        elif stream_name is None or name == stream_name:
            details.append(item)
            return
        else:
            log.warning("vpp_papi_unexpected_in_stream", message=name, expected=stream_name)
            return
        requests.pop(context, None)

    def _fail_all(self, error: VPPError) -> None:
        self.lost.set()
        for future in list(self._inflight):
            if not future.done():
                future.set_exception(error)
        self._inflight.clear()
        self._requests.clear()

    # ---- typed surface ------------------------------------------------------------------------
    async def open(self, name: str) -> None:
        """Connect and handshake; raises VPPConnectionError if VPP is not there."""
        try:
            rc = await super().connect(name, None)
        except (OSError, asyncio.IncompleteReadError) as exc:
            await self.abort()
            raise VPPConnectionError(
                f"cannot connect to VPP at {self.server_address}: {exc}"
            ) from exc
        if rc != 0:
            await self.abort()
            raise VPPConnectionError(f"no VPP API socket at {self.server_address}")

    def has(self, name: str) -> bool:
        return hasattr(self._api, name)

    def send(self, name: str, fields: dict[str, Any]) -> asyncio.Future[Any]:
        """Queue one request; the future resolves to the reply (or (end, details) for dumps)."""
        if self.lost.is_set():
            raise VPPConnectionError("VPP API socket closed")
        request = complete(self.messages[name], fields)
        future: asyncio.Future[Any] = getattr(self._api, name)(**request)
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)
        return future

    @property
    def client_index(self) -> int:
        return int(self.socket_index)

    async def close_gracefully(self, grace: float) -> None:
        """Say goodbye (``sockclnt_delete``) if VPP is still there, then close."""
        if not self.lost.is_set() and self.has("sockclnt_delete"):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.send("sockclnt_delete", {"index": self.socket_index}), grace
                )
        await self.abort()

    async def abort(self) -> None:
        """Drop the connection and stop its tasks without talking to VPP."""
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        tasks = [getattr(self, n, None) for n in ("queue_task", "socket_task")]
        for task in tasks:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        self._fail_all(VPPConnectionError("VPP API connection closed"))
