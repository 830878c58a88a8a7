"""A model of VPP's IPv4 forwarding over a snapshot read from the binary API.

``snapshot`` reads one VPP's state (interfaces, FIB, neighbours, ACLs, NAT44-ED, L2) into plain
frozen values; ``forward`` evaluates packets against snapshots, statefully (ACL and NAT
sessions); ``trace`` is the ``contivpp trace`` command on top. Reachability tests call
:class:`Dataplane` directly::

    dp = Dataplane([await read_snapshot(client, "node1")])
    request, reply = dp.connect(Packet("10.1.1.2", "10.96.0.10", TCP, 40000, 80))
"""

from contivpp.dataplane.forward import (
    ICMP,
    TCP,
    UDP,
    Dataplane,
    Hop,
    Outcome,
    Packet,
)
from contivpp.dataplane.snapshot import Snapshot, read_snapshot

__all__ = [
    "ICMP",
    "TCP",
    "UDP",
    "Dataplane",
    "Hop",
    "Outcome",
    "Packet",
    "Snapshot",
    "read_snapshot",
]
