"""``python -m contivpp.vpp.sim --socket PATH [--linux-taps [--vxlan-listen HOST:PORT
[--vxlan-peer IP=HOST:PORT ...]]]``: run the simulator standalone.

Tests start the simulator as a separate process this way (so a "VPP restart" is a real process
restart); ``contivpp vppsim`` offers the same through the main CLI.
"""

from __future__ import annotations

import argparse
import sys

from contivpp.errors import ConfigError
from contivpp.vpp.sim.forwarder import VxlanConfig
from contivpp.vpp.sim.server import run_simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contivpp.vpp.sim", description=__doc__)
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument(
        "--linux-taps", action="store_true", help="create real Linux taps for tap_create_*"
    )
    parser.add_argument(
        "--vxlan-listen",
        metavar="HOST:PORT",
        help="forward VXLAN between simulators: receive tunnel traffic on this UDP address",
    )
    parser.add_argument(
        "--vxlan-peer",
        metavar="IP=HOST:PORT",
        action="append",
        default=[],
        help="send tunnel traffic for interconnect IP to this UDP address (repeatable)",
    )
    args = parser.parse_args(argv)
    vxlan = None
    if args.vxlan_listen or args.vxlan_peer:
        try:
            vxlan = VxlanConfig.parse(args.vxlan_listen or "", args.vxlan_peer)
        except ConfigError as exc:
            parser.error(str(exc))
    return run_simulator(args.socket, args.linux_taps, vxlan)


if __name__ == "__main__":
    sys.exit(main())
