"""``python -m contivpp.vpp.sim --socket PATH [--linux-taps]``: run the simulator standalone.

Tests start the simulator as a separate process this way (so a "VPP restart" is a real process
restart); ``contivpp vppsim`` offers the same through the main CLI.
"""

from __future__ import annotations

import argparse
import sys

from contivpp.vpp.sim.server import run_simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contivpp.vpp.sim", description=__doc__)
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument(
        "--linux-taps", action="store_true", help="create real Linux taps for tap_create_*"
    )
    args = parser.parse_args(argv)
    return run_simulator(args.socket, args.linux_taps)


if __name__ == "__main__":
    sys.exit(main())
