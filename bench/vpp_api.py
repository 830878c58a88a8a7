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

from contivpp.vpp.apidefs import API_DIR
from contivpp.vpp.client import VPPClient


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (CI smoke run)")
    args = parser.parse_args(argv)
    n = 1000 if args.quick else 20000
    n_interfaces = 500 if args.quick else 5000
    with tempfile.TemporaryDirectory(prefix="vppbench-", dir="/tmp") as tmp:
        socket_path = str(Path(tmp) / "api.sock")
        sim = start_simulator(socket_path)
        try:
            figures = asyncio.run(async_figures(socket_path, n, n_interfaces))
            figures["sync_sequential_calls_per_s"] = sync_sequential(
                socket_path, figures.pop("loop_if"), n
            )
        finally:
            sim.terminate()
            sim.wait(10)
    figures["pipelined_vs_sequential"] = (
        figures["async_pipelined_calls_per_s"] / figures["async_sequential_calls_per_s"]
    )
    figures["calls"] = n
    print(f"calls per measurement: {n} (sw_interface_set_flags, simulator in its own process)")
    print(f"vpp_papi sync, one at a time:   {figures['sync_sequential_calls_per_s']:9.0f} calls/s")
    print(f"VPPClient, awaiting each call:  {figures['async_sequential_calls_per_s']:9.0f} calls/s")
    print(f"VPPClient, all in flight:       {figures['async_pipelined_calls_per_s']:9.0f} calls/s")
    print(f"pipelined / sequential:         {figures['pipelined_vs_sequential']:9.2f}x")
    print(
        f"sw_interface_dump of {figures['dump_interfaces']} interfaces: "
        f"{figures['dump_details_per_s']:.0f} details/s"
    )
    print(json.dumps({"bench": "vpp_api", **{k: round(v, 2) for k, v in figures.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
