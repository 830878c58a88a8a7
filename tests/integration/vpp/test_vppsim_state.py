"""``Simulator.dump_state``: the full simulated configuration, comparable across simulators."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vppsim_helpers import NO_INDEX, SimThread, papi_client

from contivpp.vpp.sim import serve


def configure(api: Any, *, with_route: bool = True) -> None:
    api.ip_table_add_del(table={"table_id": 1})
    loop = api.create_loopback().sw_if_index
    tap = api.tap_create_v3(id=NO_INDEX, tag="pod-a", use_random_mac=False).sw_if_index
    api.sw_interface_set_table(sw_if_index=tap, vrf_id=1)
    api.sw_interface_add_del_address(sw_if_index=loop, is_add=True, prefix="10.1.0.1/24")
    api.sw_interface_set_l2_bridge(rx_sw_if_index=loop, bd_id=3, port_type=1)
    api.vxlan_add_del_tunnel_v3(
        is_add=True,
        src_address="10.0.0.1",
        dst_address="10.0.0.2",
        vni=3,
        decap_next_index=NO_INDEX,
    )
    api.nat44_ed_plugin_enable_disable(enable=True)
    api.nat44_interface_add_del_feature(is_add=True, flags=0x20, sw_if_index=tap)
    api.acl_add_replace(acl_index=NO_INDEX, count=0, r=[])
    api.acl_interface_set_acl_list(sw_if_index=tap, count=1, n_input=1, acls=[0])
    if with_route:
        api.ip_route_add_del(
            is_add=True,
            route={
                "table_id": 1,
                "prefix": "0.0.0.0/0",
                "n_paths": 1,
                "paths": [{"sw_if_index": tap, "label_stack": [{}] * 16}],
            },
        )


def run_on_fresh_sim(path: str, steps: Callable[[Any], None]) -> dict[str, Any]:
    sim = SimThread(path)
    sim.start(seed=7)
    client = papi_client(path)
    try:
        steps(client.api)
        return sim.state()
    finally:
        client.disconnect()
        sim.close()


def test_same_requests_give_equal_state(sock_dir: Path) -> None:
    path = str(sock_dir / "a.sock")
    first = run_on_fresh_sim(path, configure)
    second = run_on_fresh_sim(path, configure)
    assert first == second
    assert json.loads(json.dumps(first)) == first  # plain JSON data
    assert first["ip"]["routes"] == [
        {
            "table_id": 1,
            "prefix": "0.0.0.0/0",
            "paths": [
                {
                    "sw_if_index": 2,
                    "table_id": 0,
                    "weight": 1,
                    "preference": 0,
                    "type": 0,
                    "flags": 0,
                    "proto": 0,
                    "nh": "0.0.0.0",
                }
            ],
        }
    ]
    assert first["acl"]["interfaces"] == {"2": {"input": [0], "output": []}}
    assert [b["members"] for b in first["l2"]["bridge_domains"]] == [
        [{"sw_if_index": 1, "shg": 0, "port_type": 1}]
    ]
    third = run_on_fresh_sim(path, lambda api: configure(api, with_route=False))
    assert third != first and third["ip"]["routes"] == []


async def test_serve_runs_until_cancelled(sock_dir: Path) -> None:
    path = str(sock_dir / "serve.sock")
    ready = asyncio.Event()
    task = asyncio.create_task(serve(path, ready=ready))
    await asyncio.wait_for(ready.wait(), 5)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not await asyncio.to_thread(os.path.exists, path)
