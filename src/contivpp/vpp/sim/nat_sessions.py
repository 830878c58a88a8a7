"""Simulated NAT44-ED sessions: what a translated connection leaves in VPP, and the API that
lists and deletes them (``nat44_user_dump``, ``nat44_user_session_v3_dump``, ``nat44_del_session``).

The simulator translates no packet, so sessions are opened by tests (``NatSessions.open`` or
``open_service_session``, which picks a backend of a static or LB mapping as the out2in path
would). Their life cycle follows VPP v26.06 (``nat44_ed.c``, ``nat44_ed_api.c``): every session
is found through two flow keys, in2out and out2in, each ``(source, source port, destination,
destination port, VRF, protocol)`` as the packet arrives; ``nat44_del_session`` looks its key up
among both. The "user" of a session is its inside address. Removing an LB backend, or the LB
mapping, deletes the LB sessions towards that backend; deleting a static mapping deletes its
first static session (VPP's loop stops after one unless the mapping is address-only). Clients
that outlive a backend keep talking to it through the remaining sessions, which is why the agent
deletes them itself (issue 10, stale sessions).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import Fields

if TYPE_CHECKING:
    from contivpp.vpp.sim.nat import NatState

handlers = HandlerTable()

IPv4 = ipaddress.IPv4Address
# nat_config_flags bits VPP sets on session details.
IS_TWICE_NAT = 0x01
IS_INSIDE = 0x20
IS_STATIC = 0x40
IS_EXT_HOST_VALID = 0x80
#: One flow key: (source, source port, destination, destination port, VRF id, protocol).
FlowKey = tuple[IPv4, int, IPv4, int, int, int]


@attrs.frozen
class Session:
    """One translated connection: the inside end (the backend / pod), the outside end it is
    known by (the service address, or the pod's SNAT address) and the remote host."""

    protocol: int
    inside: IPv4
    inside_port: int
    outside: IPv4
    outside_port: int
    ext_host: IPv4
    ext_host_port: int
    inside_vrf: int = 0
    outside_vrf: int = 0
    #: The twice-NAT address and port the remote host appears as on the inside, or None.
    ext_host_nat: IPv4 | None = None
    ext_host_nat_port: int = 0
    static: bool = False  # created by a static or LB mapping
    lb: bool = False  # created by an LB mapping
    total_pkts: int = 1
    total_bytes: int = 64

    def in2out(self) -> FlowKey:
        """The key of packets from the inside end (the remote as the inside sees it)."""
        remote = self.ext_host if self.ext_host_nat is None else self.ext_host_nat
        port = self.ext_host_port if self.ext_host_nat is None else self.ext_host_nat_port
        return (self.inside, self.inside_port, remote, port, self.inside_vrf, self.protocol)

    def out2in(self) -> FlowKey:
        """The key of packets from the remote host towards the outside address."""
        return (
            self.ext_host,
            self.ext_host_port,
            self.outside,
            self.outside_port,
            self.outside_vrf,
            self.protocol,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "inside": f"{self.inside}:{self.inside_port}",
            "outside": f"{self.outside}:{self.outside_port}",
            "ext_host": f"{self.ext_host}:{self.ext_host_port}",
            "ext_host_nat": None
            if self.ext_host_nat is None
            else f"{self.ext_host_nat}:{self.ext_host_nat_port}",
            "inside_vrf": self.inside_vrf,
            "outside_vrf": self.outside_vrf,
            "static": self.static,
            "lb": self.lb,
        }


@attrs.define
class NatSessions:
    """The session table (one thread's, as VPP with no workers): index -> session."""

    by_index: dict[int, Session] = attrs.field(factory=dict)
    flows: dict[FlowKey, int] = attrs.field(factory=dict)
    next_index: int = 0

    def open(self, session: Session) -> int:
        """Add a session as the dataplane would; its two flow keys must be free."""
        keys = (session.in2out(), session.out2in())
        taken = [k for k in keys if k in self.flows]
        if taken or keys[0] == keys[1]:
            raise ValueError(f"a NAT session already has the flow {taken[0] if taken else keys}")
        index = self.next_index
        self.next_index += 1
        self.by_index[index] = session
        for key in keys:
            self.flows[key] = index
        return index

    def close(self, index: int) -> None:
        session = self.by_index.pop(index)
        del self.flows[session.in2out()]
        del self.flows[session.out2in()]

    def close_where(self, indexes: Iterable[int]) -> None:
        for index in list(indexes):
            self.close(index)

    def lb_towards(self, addr: IPv4, port: int) -> Iterator[int]:
        """LB sessions towards one backend (removed with the backend or its mapping)."""
        for index, s in self.by_index.items():
            if s.lb and s.inside == addr and s.inside_port == port:
                yield index

    def static_of(
        self, local: IPv4, local_port: int, vrf: int, external: IPv4, port: int, protocol: int
    ) -> Iterator[int]:
        """The static (non-LB) sessions a static mapping's deletion removes
        (``nat_ed_static_mapping_del_sessions``: only the first unless address-only)."""
        address_only = protocol == 0
        for index, s in self.by_index.items():
            if s.inside_vrf != vrf or s.inside != local or s.lb or not s.static:
                continue
            if address_only:
                yield index
            elif (s.outside, s.outside_port, s.inside_port, s.protocol) == (
                external,
                port,
                local_port,
                protocol,
            ):
                yield index
                return

    def snapshot(self) -> list[dict[str, Any]]:
        return [s.snapshot() for _, s in sorted(self.by_index.items())]


def open_service_session(
    nat: NatState,
    *,
    client: str,
    client_port: int,
    external: str,
    external_port: int,
    protocol: int,
    backend: int = 0,
) -> Session:
    """Open the session a client's first packet to a static or LB mapping creates; ``backend``
    picks the LB backend (the dataplane's choice is random, a test's must not be)."""
    key = (IPv4(external), external_port, protocol)
    lb = nat.lb.get(key)
    if lb is not None:
        local = lb.locals[backend]
        inside, inside_port, vrf = local.addr, local.port, local.vrf_id
    elif key in nat.static:
        mapping = nat.static[key]
        inside, inside_port, vrf = mapping.local, mapping.local_port, mapping.vrf_id
    else:
        raise ValueError(f"no static or LB mapping for {external}:{external_port}/{protocol}")
    session = Session(
        protocol=protocol,
        inside=inside,
        inside_port=inside_port,
        outside=IPv4(external),
        outside_port=external_port,
        ext_host=IPv4(client),
        ext_host_port=client_port,
        inside_vrf=vrf,
        outside_vrf=nat.outside_vrf,
        static=True,
        lb=lb is not None,
    )
    nat.session_table.open(session)
    return session


# ---- API -------------------------------------------------------------------------------------


@handlers.dump("nat44_user_dump")
def user_dump(call: Call) -> Iterable[Fields]:
    users: dict[tuple[IPv4, int], list[int]] = {}
    for s in call.state.nat.session_table.by_index.values():
        counts = users.setdefault((s.inside, s.inside_vrf), [0, 0])
        counts[1 if s.static else 0] += 1
    for (addr, vrf_id), (dynamic, static) in users.items():
        yield {
            "vrf_id": vrf_id,
            "ip_address": addr.packed,
            "nsessions": dynamic,
            "nstaticsessions": static,
        }


@handlers.dump("nat44_user_session_v3_dump")
def user_session_v3_dump(call: Call) -> Iterable[Fields]:
    # VPP matches the inside address only: with one thread the VRF just picks the worker.
    addr = IPv4(call.req.raw("ip_address"))
    for s in call.state.nat.session_table.by_index.values():
        if s.inside != addr:
            continue
        flags = IS_EXT_HOST_VALID | (IS_STATIC if s.static else 0)
        twice = s.ext_host_nat is not None
        yield {
            "outside_ip_address": s.outside.packed,
            "outside_port": s.outside_port,
            "inside_ip_address": s.inside.packed,
            "inside_port": s.inside_port,
            "protocol": s.protocol,
            "flags": flags | (IS_TWICE_NAT if twice else 0),
            "last_heard": 0,
            "time_since_last_heard": 0,
            "total_bytes": s.total_bytes,
            "total_pkts": s.total_pkts,
            "ext_host_address": s.ext_host.packed,
            "ext_host_port": s.ext_host_port,
            "ext_host_nat_address": s.ext_host_nat.packed if s.ext_host_nat else b"\0" * 4,
            "ext_host_nat_port": s.ext_host_nat_port if twice else 0,
            "is_timed_out": False,
        }


@handlers.request("nat44_del_session")
def del_session(call: Call) -> Fields:
    req, nat = call.req, call.state.nat
    nat.require_enabled()
    # nat44_ed_del_session: one flow-hash lookup; IS_INSIDE only picks the worker thread.
    key: FlowKey = (
        IPv4(req.raw("address")),
        req.u("port"),
        IPv4(req.raw("ext_host_address")),
        req.u("ext_host_port"),
        req.u("vrf_id"),
        req.u("protocol"),
    )
    index = nat.session_table.flows.get(key)
    if index is None:
        raise SimError(rv.NO_SUCH_ENTRY)
    nat.session_table.close(index)
    return {}
