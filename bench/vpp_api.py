"""Binary-API throughput through vpp_papi to the VPP simulator: sequential versus pipelined.

The reconciler applies transactions of many small VPP calls; whether it can keep many requests
in flight on one socket (instead of waiting for each reply) decides how long a resync takes.
This starts the simulator as a separate process (``python -m contivpp.vpp.sim``) and measures
calls per second of ``sw_interface_set_flags`` three ways: the blocking vpp_papi client (one call
at a time), contivpp's asyncio client awaiting each call, and the same client with all calls in
flight at once; plus a dump of many interfaces. Prints figures; the last line is one JSON object.
Figures, not a pass / fail test.

    python bench/vpp_api.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vpp_papi import VPPApiClient

from contivpp.model import keys
from contivpp.model.vpp import Interface, Route, VrfTable
from contivpp.reconcile import Key, ResyncKind, Scheduler
from contivpp.vpp.apidefs import API_DIR
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors

#: In-flight calls of the scheduler (its default) and of the windowed raw baseline.
WINDOW = 64
NEXT_HOP = "10.255.0.2"


def start_simulator(socket_path: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "contivpp.vpp.sim", "--socket", socket_path],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not Path(socket_path).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("simulator did not start")
        time.sleep(0.02)
    return proc


def sync_sequential(socket_path: str, sw_if_index: int, n: int) -> float:
    client = VPPApiClient(apidir=str(API_DIR), use_socket=True, server_address=socket_path)
    client.connect("bench-sync")
    try:
        start = time.perf_counter()
        for i in range(n):
            reply = client.api.sw_interface_set_flags(sw_if_index=sw_if_index, flags=i & 1)
            assert reply.retval == 0
        return n / (time.perf_counter() - start)
    finally:
        client.disconnect()


async def async_figures(socket_path: str, n: int, n_interfaces: int) -> dict[str, Any]:
    async with VPPClient(socket_path, timeout=120) as vpp:
        loop_if = (await vpp.call("create_loopback")).sw_if_index

        start = time.perf_counter()
        for i in range(n):
            await vpp.call("sw_interface_set_flags", sw_if_index=loop_if, flags=i & 1)
        sequential = n / (time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(
            *(
                vpp.call("sw_interface_set_flags", sw_if_index=loop_if, flags=i & 1)
                for i in range(n)
            )
        )
        pipelined = n / (time.perf_counter() - start)

        await asyncio.gather(*(vpp.call("create_loopback") for _ in range(n_interfaces)))
        start = time.perf_counter()
        details = await vpp.dump("sw_interface_dump")
        dump_s = time.perf_counter() - start
        return {
            "loop_if": loop_if,
            "async_sequential_calls_per_s": sequential,
            "async_pipelined_calls_per_s": pipelined,
            "dump_interfaces": len(details),
            "dump_details_per_s": len(details) / dump_s,
        }


def _dst(i: int) -> str:
    return f"10.{100 + i // 65536}.{(i // 256) % 256}.{i % 256}/32"


async def _raw_routes(vpp: VPPClient, table: int, sw_if_index: int, n: int, window: int) -> float:
    """ip_route_add_del calls/s with ``window`` calls in flight (``n``: all of them)."""

    def add(i: int) -> Any:
        path = {
            "sw_if_index": sw_if_index,
            "table_id": table,
            "weight": 1,
            "nh": {"address": {"ip4": NEXT_HOP}},
        }
        route = {"table_id": table, "prefix": _dst(i), "paths": [path]}
        return vpp.call("ip_route_add_del", is_add=True, is_multipath=True, route=route)

    pending = iter(range(n))

    async def worker() -> None:
        for i in pending:
            await add(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(window, n))))
    return n / (time.perf_counter() - start)


async def reconciler_figures(socket_path: str, n: int) -> dict[str, Any]:
    async with VPPClient(socket_path, timeout=120) as vpp:
        sched = Scheduler(vpp_descriptors(vpp), max_in_flight=WINDOW)
        uplink = Interface("bench-up", "loopback", vrf=100, ip_addresses=("10.255.0.1/16",))
        setup: dict[Key, object] = {
            keys.vrf(100): VrfTable(100),
            keys.interface(uplink.name): uplink,
        }
        (await sched.commit(setup, trigger="bench setup")).raise_for_errors()
        index = vpp.interfaces.require(uplink.name)
        # The raw baseline's tables are not the scheduler's: deleting them (and so their
        # routes) afterwards keeps them out of the resync below, which would remove them.
        for table in (101, 102):
            await vpp.call("ip_table_add_del", is_add=True, table={"table_id": table})
        raw_all = await _raw_routes(vpp, 101, index, n, n)
        raw_windowed = await _raw_routes(vpp, 102, index, n, WINDOW)
        for table in (101, 102):
            await vpp.call("ip_table_add_del", is_add=False, table={"table_id": table})

        routes: dict[Key, object] = {}
        for i in range(n):
            route = Route(vrf=100, dst=_dst(i), next_hop=NEXT_HOP, out_interface=uplink.name)
            routes[keys.route(route.vrf, route.dst, route.next_hop, route.out_interface)] = route
        start = time.perf_counter()
        record = await sched.commit(routes, trigger="bench routes")
        elapsed = time.perf_counter() - start
        record.raise_for_errors()

        start = time.perf_counter()
        resync = await sched.resync(
            ResyncKind.FULL, desired={**setup, **routes}, trigger="bench resync"
        )
        resync_s = time.perf_counter() - start
        resync.raise_for_errors()
        reconciler = record.calls / elapsed
        raw = max(raw_all, raw_windowed)
        return {
            "txn_values": n,
            "txn_calls": record.calls,
            "raw_route_all_in_flight_calls_per_s": raw_all,
            "raw_route_windowed_calls_per_s": raw_windowed,
            "reconciler_calls_per_s": reconciler,
            "reconciler_vs_raw_pipelined": reconciler / raw,
            "resync_no_drift_s": resync_s,
            "resync_no_drift_calls": resync.calls,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (CI smoke run)")
    args = parser.parse_args(argv)
    n = 1000 if args.quick else 20000
    n_interfaces = 500 if args.quick else 5000
    n_values = 2000 if args.quick else 10000
    with tempfile.TemporaryDirectory(prefix="vppbench-", dir="/tmp") as tmp:
        socket_path = str(Path(tmp) / "api.sock")
        sim = start_simulator(socket_path)
        try:
            figures = asyncio.run(async_figures(socket_path, n, n_interfaces))
            figures["sync_sequential_calls_per_s"] = sync_sequential(
                socket_path, figures.pop("loop_if"), n
            )
            figures.update(asyncio.run(reconciler_figures(socket_path, n_values)))
        finally:
            sim.terminate()
            sim.wait(10)
    figures["pipelined_vs_sequential"] = (
        figures["async_pipelined_calls_per_s"] / figures["async_sequential_calls_per_s"]
    )
    figures["calls"] = n
    figures["reconciler_vs_set_flags_pipelined"] = (
        figures["reconciler_calls_per_s"] / figures["async_pipelined_calls_per_s"]
    )
    print(f"calls per measurement: {n} (sw_interface_set_flags, simulator in its own process)")
    print(f"vpp_papi sync, one at a time:   {figures['sync_sequential_calls_per_s']:9.0f} calls/s")
    print(f"VPPClient, awaiting each call:  {figures['async_sequential_calls_per_s']:9.0f} calls/s")
    print(f"VPPClient, all in flight:       {figures['async_pipelined_calls_per_s']:9.0f} calls/s")
    print(f"pipelined / sequential:         {figures['pipelined_vs_sequential']:9.2f}x")
    print(
        f"sw_interface_dump of {figures['dump_interfaces']} interfaces: "
        f"{figures['dump_details_per_s']:.0f} details/s"
    )
    print(
        f"reconciler, one txn of {figures['txn_values']} routes: "
        f"{figures['reconciler_calls_per_s']:9.0f} calls/s ({figures['txn_calls']} calls)"
    )
    print(
        f"raw ip_route_add_del, all in flight / {WINDOW} in flight: "
        f"{figures['raw_route_all_in_flight_calls_per_s']:.0f} / "
        f"{figures['raw_route_windowed_calls_per_s']:.0f} calls/s"
    )
    print(
        f"reconciler / raw pipelined (same message, best raw): "
        f"{figures['reconciler_vs_raw_pipelined']:.2f}"
    )
    print(
        f"reconciler / set_flags pipelined (smaller message): "
        f"{figures['reconciler_vs_set_flags_pipelined']:.2f}"
    )
    print(
        f"full resync, no drift, {figures['txn_values']} routes read back: "
        f"{figures['resync_no_drift_s']:.2f} s, {figures['resync_no_drift_calls']} writes"
    )
    print(json.dumps({"bench": "vpp_api", **{k: round(v, 2) for k, v in figures.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
