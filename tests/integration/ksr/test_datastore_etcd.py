"""The typed etcd boundary against real etcd: paged snapshots pinned to one revision (past
gRPC's 4 MiB default), transactions with compares, leases, compaction as an answer, errors as
DatastoreError, and failover to the next endpoint."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from contivpp.datastore.etcd import (
    Compacted,
    CreateRevisionIs,
    Delete,
    EtcdStore,
    Put,
    WatchBatch,
)
from contivpp.errors import DatastoreError
from etcd_server import EtcdServer, free_port


async def test_paged_snapshot_is_pinned_and_large(etcd_server: EtcdServer) -> None:
    async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
        value = b"x" * 2048
        for start in range(0, 3000, 100):
            await store.txn([], [Put(f"/big/{i:05d}", value) for i in range(start, start + 100)])
        snapshot_revision = (await store.count("/big/"))[1]
        # Writes racing with the paged read do not show up in it: one revision for all pages.
        writer = asyncio.create_task(store.put("/big/99999", b"late"))
        snap = await store.range("/big/", page_size=500)
        await writer
        assert snap.revision >= snapshot_revision
        keys = [kv.key for kv in snap.kvs]
        assert keys[:3000] == [f"/big/{i:05d}" for i in range(3000)]  # 6 MiB in pages
        assert len(snap.kvs) in (3000, 3001)
        assert all(kv.mod_revision <= snap.revision for kv in snap.kvs)
        assert (await store.count("/big/"))[0] == 3001
        keys_only = await store.range("/big/", keys_only=True)
        assert keys_only.kvs[0].value == b"" and len(keys_only.kvs) == 3001


async def test_transactions_leases_and_compaction(etcd_server: EtcdServer) -> None:
    async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
        created = await store.txn([CreateRevisionIs("/lock", 0)], [Put("/lock", b"a")])
        assert created.succeeded
        again = await store.txn([CreateRevisionIs("/lock", 0)], [Put("/lock", b"b")])
        assert not again.succeeded
        fenced = await store.txn(
            [CreateRevisionIs("/lock", created.revision)], [Put("/data", b"1"), Delete("/lock")]
        )
        assert fenced.succeeded and (await store.get("/lock"))[0] is None

        lease = await store.grant_lease(5)
        await store.put("/leased", b"1", lease=lease)
        assert 0 < await store.refresh_lease(lease) <= 5
        await store.revoke_lease(lease)
        await store.revoke_lease(lease)  # already gone: not an error
        assert await store.refresh_lease(lease) == 0
        assert (await store.get("/leased"))[0] is None

        first = await store.put("/w/a", b"1")
        last = await store.put("/w/a", b"2")
        await store.compact(last)
        items = []
        async with contextlib.aclosing(store.watch("/w/", first)) as stream:
            async for item in stream:
                items.append(item)
        assert items[-1] == Compacted(last)
        async with contextlib.aclosing(store.watch("/w/", last)) as stream:
            async for item in stream:
                assert isinstance(item, WatchBatch)
                if item.events:
                    assert [(e.type, e.value) for e in item.events] == [("PUT", b"2")]
                    break


async def test_errors_name_the_endpoint_and_failover_moves_on(etcd_server: EtcdServer) -> None:
    dead = ("127.0.0.1", free_port())
    async with EtcdStore([dead], timeout=1.0) as alone:
        with pytest.raises(DatastoreError, match=rf"etcd 127.0.0.1:{dead[1]}: get: UNAVAILABLE"):
            await alone.get("/x")
    async with EtcdStore([dead, (etcd_server.host, etcd_server.port)], timeout=1.0) as store:
        with pytest.raises(DatastoreError):
            await store.get("/x")
        assert store.endpoint == etcd_server.endpoint
        assert (await store.get("/x")) == (None, (await store.count("/"))[1])
