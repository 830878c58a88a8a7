"""Everything that talks VPP's binary API: definitions, client, simulator.

The agent configures VPP only through its binary API over the unix socket. This package holds the
packaged message definitions (``api/``), the loader shared by client and simulator
(:mod:`contivpp.vpp.apidefs`), the asyncio client the descriptors use (:mod:`contivpp.vpp.client`)
and the simulator that speaks the same protocol so everything can run without a real VPP
(:mod:`contivpp.vpp.sim`).
"""
