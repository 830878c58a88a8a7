"""ACL and NAT44-ED session tables that expire, for the simulator's forwarder.

The forwarding model (:class:`contivpp.dataplane.forward.NodeState`) keeps the sessions earlier
packets created in a plain ``set`` (ACL plugin) and ``dict`` (NAT44-ED flows), forever: a trace
is a few packets long. A forwarder carrying real traffic for minutes needs VPP's idle timeouts,
so it hands the model these two containers instead: they are the same set and dict to the
model, and they note when each session was last heard (a lookup that hits, or an insert) and
whether a TCP session got established or is closing, and :meth:`expire` removes the idle ones.
The clock is injected, so the timeouts are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from contivpp.dataplane.forward import TCP, AclSessionKey, Flow, FlowKey

Clock = Callable[[], float]
TCP_SYN, TCP_FIN, TCP_RST = 0x02, 0x01, 0x04


@attrs.frozen
class AclTimeouts:
    """The ACL plugin's session timeouts (``acl.h``: ``TCP_SESSION_IDLE_TIMEOUT_SEC``,
    ``TCP_SESSION_TRANSIENT_TIMEOUT_SEC``, ``UDP_SESSION_IDLE_TIMEOUT_SEC``; every non-TCP
    session uses the UDP one, ``fa_session_get_timeout_type``)."""

    tcp_idle: float = 24 * 3600
    tcp_transient: float = 120
    udp_idle: float = 600


ACL_TIMEOUTS = AclTimeouts()


@attrs.define
class _Session:
    keys: tuple[Any, ...]  # AclSessionKey or FlowKey: one class serves both tables
    heard: float
    proto: int
    directions: set[object] = attrs.field(factory=set)
    closing: bool = False

    def hear(self, key: object, now: float, tcp_flags: int) -> None:
        self.heard = now
        self.directions.add(key)
        if self.proto == TCP and tcp_flags & (TCP_FIN | TCP_RST):
            self.closing = True

    @property
    def established(self) -> bool:
        """Both directions heard (a SYN answered), not closing: what the ACL plugin's
        ``tcp_flags_seen`` and NAT44-ED's TCP state machine call established."""
        return self.proto == TCP and len(self.directions) >= 2 and not self.closing


class AclSessions(set[AclSessionKey]):
    """The ACL plugin's session table: every key of a reflected packet (its own and its
    reverse) belongs to one session; a packet matching either refreshes it."""

    def __init__(self, clock: Clock, timeouts: AclTimeouts = ACL_TIMEOUTS) -> None:
        super().__init__()
        self.clock = clock
        self.timeouts = timeouts
        #: The TCP flags of the packet being forwarded (set by the forwarder before each one).
        self.tcp_flags = 0
        self._of: dict[AclSessionKey, _Session] = {}

    def __contains__(self, key: object) -> bool:
        session = self._of.get(key)  # type: ignore[call-overload]
        if session is None:
            return False
        session.hear(key[1], self.clock(), self.tcp_flags)  # type: ignore[index]
        return True

    def update(self, *groups: Iterable[AclSessionKey]) -> None:
        """``acl_fa_add_session``: the model adds one session's keys in one call."""
        for group in groups:
            keys = tuple(group)
            if not keys:
                continue
            session = _Session(keys, self.clock(), keys[0][4])
            session.hear(keys[0][1], session.heard, self.tcp_flags)  # direction: is_input
            for key in keys:
                super().add(key)
                self._of[key] = session

    def timeout(self, session: _Session) -> float:
        if session.proto != TCP:
            return self.timeouts.udp_idle
        return self.timeouts.tcp_idle if session.established else self.timeouts.tcp_transient

    def expire(self) -> int:
        """Remove the sessions idle for longer than their timeout; how many went."""
        now = self.clock()
        gone = {id(s): s for s in self._of.values() if now - s.heard > self.timeout(s)}.values()
        for session in gone:
            for key in session.keys:
                self.discard(key)
                self._of.pop(key, None)
        return len(gone)


class NatFlows(dict[FlowKey, Flow]):
    """NAT44-ED's flow hash: a session's in2out and out2in flows expire together.

    The model stores the two flows of a session as two keys; the partner of a flow is the key
    the translated packet's reply has (``nat_6t_flow_t`` rewrite reversed), so the session is
    found from either without the model saying which keys belong together.
    """

    def __init__(self, clock: Clock, timeouts: Callable[[], dict[str, int]]) -> None:
        super().__init__()
        self.clock = clock
        self.timeouts = timeouts
        self.tcp_flags = 0
        self._of: dict[FlowKey, _Session] = {}

    @staticmethod
    def partner(key: FlowKey, flow: Flow) -> FlowKey:
        return flow.vrf, key[1], flow.dst, flow.dport, flow.src, flow.sport

    def get(self, key: FlowKey, default: Flow | None = None) -> Flow | None:  # type: ignore[override]
        flow = super().get(key)
        if flow is None:
            return default
        self._hear(key, flow)
        return flow

    def __setitem__(self, key: FlowKey, flow: Flow) -> None:
        super().__setitem__(key, flow)
        self._hear(key, flow)

    def _hear(self, key: FlowKey, flow: Flow) -> None:
        session = self._of.get(key)
        if session is None:
            other = self.partner(key, flow)
            session = self._of.get(other) or _Session((key, other), self.clock(), key[1])
            self._of[key] = self._of[other] = session
        session.hear(key, self.clock(), self.tcp_flags)

    def timeout(self, session: _Session) -> float:
        """``nat44_session_get_timeout``: by protocol, TCP by its state."""
        t = self.timeouts()
        if session.proto == TCP:
            return t["tcp_established"] if session.established else t["tcp_transitory"]
        return t["icmp"] if session.proto == 1 else t["udp"]

    def expire(self) -> int:
        now = self.clock()
        gone = {id(s): s for s in self._of.values() if now - s.heard > self.timeout(s)}.values()
        for session in gone:
            for key in session.keys:
                self.pop(key, None)
                self._of.pop(key, None)
        return len(gone)
