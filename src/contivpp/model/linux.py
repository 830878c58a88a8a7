"""Desired-state values for the Linux side of pods (routes and ARP inside the pod netns)."""

from __future__ import annotations

import attrs


@attrs.frozen
class PodRoute:
    netns: str
    interface: str
    dst: str  # CIDR
    gateway: str = ""  # "" = a link-scope route
    scope_link: bool = False


@attrs.frozen
class PodNeighbor:
    netns: str
    interface: str
    ip: str
    mac: str
