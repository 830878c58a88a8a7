"""Desired-state values for the Linux side: routes and ARP entries in a network namespace.

``netns`` is a netns path (``/var/run/netns/<pod>``) or "" for the agent's own namespace (the
host side of the VPP-host link). ``after`` names the key this value needs first, e.g. the VPP
TAP whose Linux end is ``interface``, or the link route a default route goes through.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class LinuxRoute:
    netns: str
    interface: str
    dst: str  # CIDR
    gateway: str = ""  # "" = a link-scope route
    after: tuple[str, ...] = ()


@attrs.frozen
class LinuxNeighbor:
    netns: str
    interface: str
    ip: str
    mac: str
    after: tuple[str, ...] = ()
