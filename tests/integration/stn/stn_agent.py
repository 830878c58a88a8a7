"""A stand-in for the vswitch agent's STN side, run as its own process so a test can kill it.

Usage: ``python stn_agent.py SOCKET INTERFACE INTERVAL``: steals INTERFACE, prints the reply as
one JSON line, then keeps the NIC stolen with keep-alive calls every INTERVAL seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from contivpp.stn.client import keep_alive, steal_interface


async def main(socket: Path, name: str, interval: float) -> None:
    stolen = await steal_interface(socket, name)
    reply = {
        "addresses": sorted(str(a) for a in stolen.addresses),
        "routes": sorted(f"{r.destination} via {r.next_hop or 'link'}" for r in stolen.routes),
    }
    print(json.dumps(reply), flush=True)
    await keep_alive(socket, name, interval)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])))
