"""A VPP simulator that speaks VPP's real binary API over its unix socket.

Real VPP cannot run in CI or on a laptop without hugepages and DPDK, but the agent must run
unchanged against it. The simulator therefore implements VPP's socket transport with the real
message definitions and reproduces, statefully, the semantics and error codes of the messages
the control plane uses (interfaces and taps, IP, L2, VXLAN, NAT44-ED, ACL). Start it in-process
with :class:`Simulator` / :func:`serve`, from the command line with
``python -m contivpp.vpp.sim --socket PATH``, or through ``contivpp vppsim``
(:func:`run_simulator`).
"""

from contivpp.vpp.sim.server import Simulator, run_simulator, serve

__all__ = ["Simulator", "run_simulator", "serve"]
