"""Node-ID allocation in a real etcd: smallest free ID, races, restarts, and refusing to
overlap after etcd lost its data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from contivpp.agent.nodeid import allocate_node_id, list_nodes
from contivpp.datastore.etcd import EtcdStore
from contivpp.errors import IPAMError
from etcd_server import EtcdServer


def ips(node_id: int) -> tuple[str, ...]:
    return (f"192.168.16.{node_id}/24",)


async def test_smallest_free_id_and_stable_across_restarts(
    etcd_server: EtcdServer, tmp_path: Path
) -> None:
    async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
        a = await allocate_node_id(store, "a", ips, local_file=tmp_path / "a")
        b = await allocate_node_id(store, "b", ips, local_file=tmp_path / "b")
        assert (a, b) == (1, 2)
        assert await allocate_node_id(store, "a", ips, local_file=tmp_path / "a") == 1
        await store.delete("/vnf-agent/contiv-ksr/allocatedIDs/1")  # node a left
        c = await allocate_node_id(store, "c", ips, local_file=tmp_path / "c")
        assert c == 1, "the smallest free ID is reused by a new node"
        records, _ = await list_nodes(store)
        assert {r.name: r.ip_addresses for r in records.values()} == {
            "c": ("192.168.16.1/24",),
            "b": ("192.168.16.2/24",),
        }


async def test_concurrent_claims_get_distinct_ids(etcd_server: EtcdServer) -> None:
    async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
        ids = await asyncio.gather(
            *(allocate_node_id(store, f"n{i}", ips, local_file=None) for i in range(8))
        )
    assert sorted(ids) == list(range(1, 9))


async def test_after_etcd_data_loss_a_node_reclaims_its_own_id_or_refuses(
    etcd_server: EtcdServer, tmp_path: Path
) -> None:
    async with EtcdStore([(etcd_server.host, etcd_server.port)]) as store:
        await allocate_node_id(store, "a", ips, local_file=tmp_path / "a")
        b = await allocate_node_id(store, "b", ips, local_file=tmp_path / "b")
        assert b == 2
        await store.delete("/vnf-agent/contiv-ksr/allocatedIDs/", prefix=True)  # etcd lost it
        # c arrives first and would get ID 1 (a's); b comes back and must get 2 again
        assert await allocate_node_id(store, "c", ips, local_file=tmp_path / "c") == 1
        assert await allocate_node_id(store, "b", ips, local_file=tmp_path / "b") == 2
        # a comes back: its ID now belongs to c -> refuse instead of overlapping subnets
        with pytest.raises(IPAMError, match="which etcd now gives to c"):
            await allocate_node_id(store, "a", ips, local_file=tmp_path / "a")
