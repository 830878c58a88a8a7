"""The typed boundary to etcd: everything the KSR and the agent ask of etcd goes through here.

aetcd is untyped and its helpers drop what exactness needs (response header revisions, ranges
pinned to one revision and paged, count-only ranges, watch responses as batches with their
header), so :class:`EtcdStore` takes the channel and etcd's generated messages from aetcd and
calls the gRPC stubs itself. Every gRPC / aetcd failure leaves this module as a
:class:`~contivpp.errors.DatastoreError` naming the endpoint and the operation, with the cause
chained. A compacted revision is not an error but an answer: ``watch`` yields
:class:`Compacted` and ``range`` re-reads at the current revision. With several endpoints, a
connection failure moves the store to the next one; gRPC's own reconnect back-off is kept
short so a restarted etcd is used again within a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Literal

import aetcd
import attrs
import structlog
from aetcd import rpc

from contivpp.errors import DatastoreError

log = structlog.get_logger("contivpp.datastore.etcd")

Endpoint = tuple[str, int]

# 64 MiB instead of gRPC's 4 MiB default: a page of values must never be refused for size.
_MAX_MESSAGE = 64 * 1024 * 1024
_CHANNEL_OPTIONS: dict[str, int] = {
    "grpc.max_receive_message_length": _MAX_MESSAGE,
    "grpc.max_send_message_length": _MAX_MESSAGE,
    # A silently dead connection (host gone, no RST) must fail the watch, not hang it.
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    # gRPC backs off up to 120 s between reconnects by default; etcd restarts take a second.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1_000,
}
# gRPC codes that mean "this endpoint is not reachable (now)": try the next endpoint.
_CONNECTION_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


def parse_endpoints(spec: str | Sequence[str]) -> tuple[Endpoint, ...]:
    """``"host:port,host:port"`` (or a list of such; ``http://`` prefixes allowed) -> endpoints."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Endpoint] = []
    for item in items:
        text = item.strip()
        for scheme in ("http://", "https://"):
            if text.startswith(scheme):
                text = text[len(scheme) :]
        text = text.rstrip("/")
        if not text:
            continue
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DatastoreError(f"etcd endpoint {item.strip()!r}: expected HOST:PORT")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise DatastoreError("no etcd endpoint given")
    return tuple(out)


def prefix_end(prefix: str) -> bytes:
    """The exclusive end of the key range that holds every key starting with ``prefix``."""
    raw = bytearray(prefix.encode())
    for i in reversed(range(len(raw))):
        if raw[i] < 0xFF:
            raw[i] += 1
            return bytes(raw[: i + 1])
    return b"\0"


@attrs.frozen
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int = 1
    lease: int = 0


@attrs.frozen
class RangeResult:
    """Keys under a prefix as of one store revision (``revision``), sorted by key."""

    revision: int
    kvs: tuple[KeyValue, ...]


@attrs.frozen
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    key: str
    value: bytes  # empty for DELETE
    mod_revision: int  # for DELETE: the revision of the deletion
    create_revision: int  # 0 for DELETE


@attrs.frozen
class WatchBatch:
    """One watch response: its events (possibly none: created / progress) and header revision.

    etcd never splits the events of one revision across responses, so a batch always ends on a
    revision boundary; ``revision`` is the store revision when the response was sent.
    """

    revision: int
    events: tuple[WatchEvent, ...] = ()


@attrs.frozen
class Compacted:
    """The watch's start revision is gone; ``revision`` is the oldest revision still kept."""

    revision: int


# -- transaction building blocks ------------------------------------------------------------


@attrs.frozen
class CreateRevisionIs:
    """Compare: ``key`` exists and was created at ``revision`` (0: ``key`` does not exist)."""

    key: str
    revision: int


@attrs.frozen
class Put:
    key: str
    value: bytes
    lease: int = 0


@attrs.frozen
class Delete:
    key: str
    prefix: bool = False


Compare = CreateRevisionIs
Op = Put | Delete


@attrs.frozen
class TxnResult:
    succeeded: bool
    revision: int


def _kv(raw: Any) -> KeyValue:
    return KeyValue(
        key=raw.key.decode(),
        value=bytes(raw.value),
        create_revision=int(raw.create_revision),
        mod_revision=int(raw.mod_revision),
        version=int(raw.version),
        lease=int(raw.lease),
    )


def _request_op(op: Op) -> Any:
    if isinstance(op, Put):
        return rpc.RequestOp(
            request_put=rpc.PutRequest(key=op.key.encode(), value=op.value, lease=op.lease)
        )
    request = rpc.DeleteRangeRequest(key=op.key.encode())
    if op.prefix:
        request.range_end = prefix_end(op.key)
    return rpc.RequestOp(request_delete_range=request)


def _compare(cmp: Compare) -> Any:
    return rpc.Compare(
        key=cmp.key.encode(),
        result=rpc.Compare.EQUAL,
        target=rpc.Compare.CREATE,
        create_revision=cmp.revision,
    )


def _is_compacted(exc: BaseException) -> bool:
    return isinstance(exc, rpc.AioRpcError) and "compacted" in (exc.details() or "")


class EtcdStore:
    """A connection to an etcd cluster (one endpoint at a time, the next one on failure)."""

    def __init__(self, endpoints: Sequence[Endpoint], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise DatastoreError("no etcd endpoint given")
        self._endpoints = tuple(endpoints)
        self._index = 0
        self._timeout = timeout
        self._client: Any = None
        self._lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self._endpoints[self._index]
        return f"{host}:{port}"

    async def __aenter__(self) -> EtcdStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing a broken channel must not mask the real error
                log.debug("etcd_close_failed", endpoint=self.endpoint, error=repr(exc))

    async def _connected(self) -> Any:
        async with self._lock:
            if self._client is None:
                host, port = self._endpoints[self._index]
                client = aetcd.Client(host, port, timeout=self._timeout, options=_CHANNEL_OPTIONS)
                try:
                    await client.connect()
                except Exception as exc:
                    raise DatastoreError(f"etcd {self.endpoint}: connect: {exc}") from exc
                self._client = client
            return self._client

    async def _failed(self, client: Any, what: str, exc: BaseException) -> DatastoreError:
        """Translate ``exc``; after a connection failure, move on to the next endpoint."""
        code = exc.code().name if isinstance(exc, rpc.AioRpcError) else ""
        details = exc.details() if isinstance(exc, rpc.AioRpcError) else str(exc)
        error = DatastoreError(
            f"etcd {self.endpoint}: {what}: {code or type(exc).__name__}: {details}"
        )
        if len(self._endpoints) > 1 and (code in _CONNECTION_CODES or not code):
            async with self._lock:
                if self._client is client:
                    self._client = None
                    self._index = (self._index + 1) % len(self._endpoints)
                    log.info("etcd_endpoint_switched", endpoint=self.endpoint, error=details)
            if client is not None:
                try:
                    await client.close()
                except Exception as close_exc:
                    log.debug("etcd_close_failed", error=repr(close_exc))
        return error

    async def _unary(self, what: str, stub_name: str, method: str, request: Any) -> Any:
        client = await self._connected()
        try:
            call = getattr(getattr(client, stub_name), method)
            return await call(request, timeout=self._timeout, metadata=client.metadata)
        except (rpc.AioRpcError, aetcd.ClientError) as exc:
            raise await self._failed(client, what, exc) from exc

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[KeyValue | None, int]:
        """The key (or None) and the store revision of the read."""
        resp = await self._unary("get", "kvstub", "Range", rpc.RangeRequest(key=key.encode()))
        kv = _kv(resp.kvs[0]) if resp.count else None
        return kv, int(resp.header.revision)

    async def count(self, prefix: str) -> tuple[int, int]:
        """How many keys start with ``prefix``, and the store revision of the read."""
        request = rpc.RangeRequest(
            key=prefix.encode(), range_end=prefix_end(prefix), count_only=True
        )
        resp = await self._unary("count", "kvstub", "Range", request)
        return int(resp.count), int(resp.header.revision)

    async def range(
        self, prefix: str, *, keys_only: bool = False, page_size: int = 1000
    ) -> RangeResult:
        """Every key under ``prefix`` as of one revision, read in pages of ``page_size`` keys.

        The first page fixes the revision and the next pages are read at it, so the result is a
        consistent snapshot however large it is. If that revision is compacted between pages,
        the read starts over at the current revision.
        """
        end = prefix_end(prefix)
        while True:
            kvs: list[KeyValue] = []
            start = prefix.encode()
            revision = 0
            while True:
                request = rpc.RangeRequest(
                    key=start,
                    range_end=end,
                    limit=page_size,
                    revision=revision,
                    keys_only=keys_only,
                )
                resp = await self._range_page(request)
                if resp is None:
                    log.info("etcd_range_restarted", prefix=prefix, reason="revision compacted")
                    break
                revision = revision or int(resp.header.revision)
                kvs.extend(_kv(kv) for kv in resp.kvs)
                if not resp.more or not resp.kvs:
                    return RangeResult(revision, tuple(kvs))
                start = resp.kvs[-1].key + b"\0"

    async def _range_page(self, request: Any) -> Any | None:
        """One Range call; None if its pinned revision has been compacted."""
        client = await self._connected()
        try:
            return await client.kvstub.Range(
                request, timeout=self._timeout, metadata=client.metadata
            )
        except (rpc.AioRpcError, aetcd.ClientError) as exc:
            if request.revision and _is_compacted(exc):
                return None
            raise await self._failed(client, "range", exc) from exc

    # -- writes -----------------------------------------------------------------------------

    async def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        request = rpc.TxnRequest(
            compare=[_compare(c) for c in compare],
            success=[_request_op(op) for op in success],
            failure=[_request_op(op) for op in failure],
        )
        resp = await self._unary("txn", "kvstub", "Txn", request)
        return TxnResult(bool(resp.succeeded), int(resp.header.revision))

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        """Put one key; returns the revision of the write."""
        return (await self.txn([], [Put(key, value, lease)])).revision

    async def delete(self, key: str, *, prefix: bool = False) -> int:
        return (await self.txn([], [Delete(key, prefix)])).revision

    async def compact(self, revision: int) -> None:
        request = rpc.CompactionRequest(revision=revision, physical=True)
        await self._unary("compact", "kvstub", "Compact", request)

    # -- leases -----------------------------------------------------------------------------

    async def grant_lease(self, ttl: int) -> int:
        resp = await self._unary(
            "lease grant", "leasestub", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl)
        )
        return int(resp.ID)

    async def refresh_lease(self, lease_id: int) -> int:
        """One keep-alive; returns the new TTL in seconds, 0 if the lease no longer exists."""
        client = await self._connected()
        try:
            call = client.leasestub.LeaseKeepAlive(
                iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]),
                timeout=self._timeout,
                metadata=client.metadata,
            )
            async for reply in call:
                return int(reply.TTL)
        except (rpc.AioRpcError, aetcd.ClientError) as exc:
            raise await self._failed(client, "lease keep-alive", exc) from exc
        return 0

    async def revoke_lease(self, lease_id: int) -> None:
        try:
            await self._unary(
                "lease revoke", "leasestub", "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease_id)
            )
        except DatastoreError as exc:
            if "not found" not in str(exc):
                raise

    # -- watch ------------------------------------------------------------------------------

    async def watch(
        self, prefix: str, start_revision: int, *, progress_notify: bool = True
    ) -> AsyncGenerator[WatchBatch | Compacted, None]:
        """Watch every key under ``prefix`` from ``start_revision`` (inclusive).

        Yields one :class:`WatchBatch` per watch response, the first (``created``) one empty,
        in revision order. If ``start_revision`` is compacted, yields one :class:`Compacted` and
        ends. A lost connection raises :class:`DatastoreError`; the caller re-watches from the
        revision after the last one it processed.
        """
        client = await self._connected()
        stop = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield rpc.WatchRequest(
                create_request=rpc.WatchCreateRequest(
                    key=prefix.encode(),
                    range_end=prefix_end(prefix),
                    start_revision=start_revision,
                    progress_notify=progress_notify,
                )
            )
            await stop.wait()  # keep the request side open for the life of the watch

        call = rpc.WatchStub(client.channel).Watch(requests(), metadata=client.metadata)
        try:
            async for resp in call:
                if resp.compact_revision:
                    yield Compacted(int(resp.compact_revision))
                    return
                if resp.canceled:
                    raise DatastoreError(
                        f"etcd {self.endpoint}: watch {prefix}: canceled: {resp.cancel_reason}"
                    )
                yield WatchBatch(
                    int(resp.header.revision), tuple(_watch_event(ev) for ev in resp.events)
                )
            raise DatastoreError(f"etcd {self.endpoint}: watch {prefix}: stream ended")
        except (rpc.AioRpcError, aetcd.ClientError) as exc:
            raise await self._failed(client, f"watch {prefix}", exc) from exc
        finally:
            stop.set()
            call.cancel()


def _watch_event(ev: Any) -> WatchEvent:
    kv = ev.kv
    if ev.type == rpc.Event.DELETE:
        return WatchEvent("DELETE", kv.key.decode(), b"", int(kv.mod_revision), 0)
    return WatchEvent(
        "PUT", kv.key.decode(), bytes(kv.value), int(kv.mod_revision), int(kv.create_revision)
    )
