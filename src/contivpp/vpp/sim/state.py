"""The whole state of one simulated VPP, and what spans its areas.

Each area module keeps its own typed state (interfaces, ip, l2, vxlan, nat, acl); this class
holds them together and does the work that crosses areas: creating an interface (one
sw_if_index pool, creation events) and deleting one (VPP's per-feature interface-delete
callbacks drop its addresses, neighbours, bridge membership, NAT roles and ACL bindings). A new
``SimState`` is an empty, freshly started VPP: only ``local0`` exists.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from contivpp.vpp.sim.acl import AclState
from contivpp.vpp.sim.interfaces import Interface, InterfacesState
from contivpp.vpp.sim.ip import IpState
from contivpp.vpp.sim.l2 import L2State
from contivpp.vpp.sim.linux import LinuxTaps
from contivpp.vpp.sim.nat import NatState
from contivpp.vpp.sim.vxlan import VxlanState


@attrs.frozen
class InterfaceEvent:
    """One ``sw_interface_event`` to publish to subscribers."""

    sw_if_index: int
    flags: int
    deleted: bool


@attrs.define
class SimState:
    interfaces: InterfacesState = attrs.field(factory=InterfacesState)
    ip: IpState = attrs.field(factory=IpState)
    l2: L2State = attrs.field(factory=L2State)
    vxlan: VxlanState = attrs.field(factory=VxlanState)
    nat: NatState = attrs.field(factory=NatState)
    acl: AclState = attrs.field(factory=AclState)
    #: Host taps (``--linux-taps``); None keeps taps purely simulated.
    linux: LinuxTaps | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    #: Events produced by the request being handled; the server publishes them after the reply.
    pending_events: list[InterfaceEvent] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        local0 = self.create_interface(
            name="local0", dev_type="local", mac=b"\0" * 6, ethernet=False, announce=False
        )
        local0.link_follows_admin = False
        local0.link_mtu = 0
        local0.mtu = [0, 0, 0, 0]

    def interface_event(self, sw_if_index: int, flags: int, *, deleted: bool) -> None:
        self.pending_events.append(InterfaceEvent(sw_if_index, flags, deleted))

    def create_interface(
        self,
        *,
        name: str,
        dev_type: str,
        mac: bytes,
        ethernet: bool = True,
        link_up: bool = False,
        tag: str = "",
        announce: bool = True,
    ) -> Interface:
        ifs = self.interfaces
        itf = Interface(
            sw_if_index=ifs.pool.alloc(),
            name=name,
            dev_type=dev_type,
            mac=mac,
            ethernet=ethernet,
            link_up=link_up,
            tag=tag,
        )
        ifs.by_index[itf.sw_if_index] = itf
        if announce:
            self.interface_event(itf.sw_if_index, itf.flags, deleted=False)
        return itf

    def delete_interface(self, sw_if_index: int) -> None:
        """Remove an interface and everything VPP drops with it; free its index."""
        self.acl.interface_deleted(sw_if_index)
        self.nat.interface_deleted(sw_if_index)
        self.l2.interface_deleted(sw_if_index)
        self.ip.interface_deleted(sw_if_index)
        del self.interfaces.by_index[sw_if_index]
        self.interfaces.pool.release(sw_if_index)
        self.interface_event(sw_if_index, 0, deleted=True)

    def snapshot(self) -> dict[str, Any]:
        """The full state as plain JSON-able data (for tests comparing simulators)."""
        return {
            **self.interfaces.snapshot(),
            "ip": self.ip.snapshot(),
            "l2": self.l2.snapshot(),
            "vxlan": self.vxlan.snapshot(),
            "nat": self.nat.snapshot(),
            "acl": self.acl.snapshot(),
        }
