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


def add_options(parser: argparse.ArgumentParser) -> None:
    """The simulator's options (``contivpp vppsim`` and ``python -m contivpp.vpp.sim``)."""
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument(
        "--linux-taps",
        action="store_true",
        help="tap_create_* creates a real Linux tap (in host_namespace when given), and "
        "frames pods write to it are forwarded",
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


def simulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the simulator with parsed :func:`add_options`; bad VXLAN options are usage errors."""
    vxlan = None
    if args.vxlan_listen or args.vxlan_peer:
        try:
            vxlan = VxlanConfig.parse(args.vxlan_listen or "", args.vxlan_peer)
        except ConfigError as exc:
            parser.error(str(exc))
    return run_simulator(args.socket, args.linux_taps, vxlan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contivpp.vpp.sim", description=__doc__)
    add_options(parser)
    return simulate(parser.parse_args(argv), parser)


if __name__ == "__main__":
    sys.exit(main())
