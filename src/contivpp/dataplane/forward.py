"""How VPP v26.06 forwards one IPv4 packet, evaluated against :class:`~.snapshot.Snapshot`\\ s.

This is the evaluator behind ``contivpp trace`` and the reachability tests of services and
policies: "does a packet from A reach B, and if not, which stage stops it and why". It follows
the graph a packet takes in VPP on our topologies, stage by stage, and every stage records a
:class:`Hop` with its verdict and reason (which ACL rule, which NAT mapping, which route):

- ip4 input on an L3 interface: input ACL (``acl-plugin-in-ip4-fa``), then NAT44-ED
  (``nat44-ed-classify`` / ``-in2out`` / ``-out2in``, all ``runs_after`` the input ACL in
  ``nat44_ed.c``), then the FIB lookup (``ip4-lookup``) in the VRF NAT chose or the receiving
  interface's VRF;
- ip4 output: the neighbour, NAT44-ED's output feature (``nat44-ed-in2out-output`` ``runs_before``
  ``acl-plugin-out-ip4-fa``), then the output ACL;
- L2: a BVI sends into its bridge domain, the L2 FIB picks the member; a VXLAN member
  encapsulates, and when the peer node's snapshot is known the packet is followed into it
  (decapsulated on the tunnel whose end points mirror ours, L2 FIB, the peer's BVI).

The model is stateful: a :class:`Dataplane` keeps the ACL plugin's reflected sessions and
NAT44-ED's flows created by earlier packets, so a reply can be evaluated after its request
(:meth:`Dataplane.reply`). Where VPP picks at random (LB backend, ECMP path with its flow hash,
NAT ports) the model picks deterministically from a stable hash of the packet and says so in
the hop's reason. IPv6, fragments, TTL expiry, QoS and MTU are not modelled (docs/trace.md).
"""

from __future__ import annotations

import functools
import ipaddress
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from contivpp.dataplane.snapshot import (
    AclState,
    FibEntry,
    FibPath,
    InterfaceState,
    NatLbLocal,
    NatLbMapping,
    NatStaticMapping,
    Snapshot,
    ip4_int,
)
from contivpp.errors import InputError
from contivpp.model.acl import AclRule
from contivpp.vpp.descriptors.acl import encode_rule

ICMP, TCP, UDP = 1, 6, 17
TCP_SYN, TCP_ACK = 0x02, 0x10
PROTOCOL_NAMES = {ICMP: "icmp", TCP: "tcp", UDP: "udp", 132: "sctp"}
#: Nodes followed before the model gives up (a forwarding loop).
MAX_STEPS = 64
#: ICMP types that open an ACL session and the type of their answer (acl ``icmp4_invmap``,
#: ``icmp4_valid_new`` in ``session_inlines.h``): echo, timestamp, information, mask.
ICMP_REPLY_TYPE = {8: 0, 13: 14, 15: 16, 17: 18}

Result = Literal["delivered", "dropped", "rejected", "left"]


@attrs.frozen
class Packet:
    """One IPv4 packet. For ICMP, ``sport`` carries the echo identifier (what NAT44-ED keys
    ICMP sessions by) and ``icmp_type`` / ``icmp_code`` what the ACL plugin matches."""

    src: str
    dst: str
    proto: int = TCP
    sport: int = 0
    dport: int = 0
    tcp_flags: int = TCP_SYN
    icmp_type: int = 8
    icmp_code: int = 0

    def describe(self) -> str:
        name = PROTOCOL_NAMES.get(self.proto, str(self.proto))
        if self.proto in (TCP, UDP):
            return f"{name} {self.src}:{self.sport} -> {self.dst}:{self.dport}"
        if self.proto == ICMP:
            return f"icmp {self.src} -> {self.dst} type {self.icmp_type} id {self.sport}"
        return f"{name} {self.src} -> {self.dst}"

    def reply(self) -> Packet:
        """The answer a server sends to this packet (SYN -> SYN+ACK, echo -> echo reply)."""
        return attrs.evolve(
            self,
            src=self.dst,
            dst=self.src,
            sport=self.dport if self.proto != ICMP else self.sport,
            dport=self.sport if self.proto != ICMP else self.dport,
            tcp_flags=TCP_SYN | TCP_ACK if self.tcp_flags & TCP_SYN else TCP_ACK,
            icmp_type=ICMP_REPLY_TYPE.get(self.icmp_type, self.icmp_type),
        )

    def acl_ports(self) -> tuple[int, int]:
        """The ports the ACL plugin matches (``acl_fill_5tuple_l4_and_pkt_data`` in
        ``public_inlines.h``): ICMP type/code, TCP/UDP ports, and 0/0 for every other
        protocol (SCTP included)."""
        if self.proto == ICMP:
            return self.icmp_type, self.icmp_code
        if self.proto in (TCP, UDP):
            return self.sport, self.dport
        return 0, 0

    def nat_ports(self) -> tuple[int, int]:
        """The ports NAT44-ED keys flows by: TCP/UDP ports, the echo id for ICMP, else 0/0."""
        if self.proto == ICMP:
            return self.sport, self.sport
        if self.proto in (TCP, UDP):
            return self.sport, self.dport
        return 0, 0

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "proto": PROTOCOL_NAMES.get(self.proto, str(self.proto)),
            "sport": self.sport,
            "dport": self.dport,
        }


@attrs.frozen
class Hop:
    """One stage a packet went through: its verdict and why."""

    node: str
    stage: str  # ingress | acl-in | nat44 | fib | neighbor | nat44-output | acl-out | l2 | vxlan
    verdict: str  # pass | translate | drop | reject | deliver | leave
    reason: str
    interface: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "stage": self.stage,
            "verdict": self.verdict,
            "interface": self.interface,
            "reason": self.reason,
        }


@attrs.frozen
class Outcome:
    """Where a packet ended: delivered (to which interface, pod), dropped or rejected (by which
    stage, why), or left the nodes the model knows (out of which interface)."""

    result: Result
    node: str
    interface: str
    reason: str
    packet: Packet  # as it was when it ended (after NAT)
    hops: tuple[Hop, ...]
    sw_if_index: int | None = None
    pod: str = ""
    #: The stage that ended it (for dropped / rejected: the one that refused).
    stage: str = ""
    #: Where a delivered (or VXLAN-bound) frame goes at L2: the next hop and the destination
    #: MAC VPP knows for it ("" when VPP would have to ARP first). A forwarder writing real
    #: frames needs them; the trace does not print them.
    next_hop: str = ""
    mac: str = ""

    @property
    def delivered(self) -> bool:
        return self.result == "delivered"

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "node": self.node,
            "interface": self.interface,
            "pod": self.pod,
            "stage": self.stage,
            "reason": self.reason,
            "packet": self.packet.to_json(),
            "hops": [h.to_json() for h in self.hops],
        }


# ---- ACL plugin -------------------------------------------------------------------------------

#: (sw_if_index, is_input, src, dst, proto, port0, port1): a session key as the ACL plugin
#: hashes it (the 5-tuple plus the interface and the direction, ``fa_5tuple_t``).
AclSessionKey = tuple[int, bool, str, str, int, int, int]


@attrs.frozen
class _Rule:
    """A rule as the matcher reads it: networks as (address, mask) integers."""

    ip6: bool
    src: tuple[int, int]
    dst: tuple[int, int]
    proto: int
    sports: tuple[int, int]
    dports: tuple[int, int]
    tcp_mask: int
    tcp_value: int


def _net(prefix: str) -> tuple[int, int]:
    net = ipaddress.ip_network(prefix)
    return int(net.network_address), int(net.netmask)


@functools.lru_cache(maxsize=4096)
def _compiled(rule: AclRule) -> _Rule:
    r = encode_rule(rule)  # the exact fields VPP gets, defaults resolved as the descriptor does
    return _Rule(
        ip6=":" in r["src_prefix"] or ":" in r["dst_prefix"],
        src=_net(r["src_prefix"]),
        dst=_net(r["dst_prefix"]),
        proto=r["proto"],
        sports=(r["srcport_or_icmptype_first"], r["srcport_or_icmptype_last"]),
        dports=(r["dstport_or_icmpcode_first"], r["dstport_or_icmpcode_last"]),
        tcp_mask=r["tcp_flags_mask"],
        tcp_value=r["tcp_flags_value"],
    )


def rule_matches(rule: AclRule, packet: Packet) -> bool:
    """``single_acl_match_5tuple`` (``public_inlines.h``): addresses, then for a rule with a
    protocol the protocol, source and destination port ranges and the TCP flags."""
    r = _compiled(rule)
    if r.ip6:
        return False  # an IPv6 rule never matches an IPv4 packet (is_ip6 != r->is_ipv6)
    if ip4_int(packet.dst) & r.dst[1] != r.dst[0] or ip4_int(packet.src) & r.src[1] != r.src[0]:
        return False
    if r.proto:
        if packet.proto != r.proto:
            return False
        sport, dport = packet.acl_ports()
        if not (r.sports[0] <= sport <= r.sports[1] and r.dports[0] <= dport <= r.dports[1]):
            return False
        # tcp_flags_valid is set for TCP packets only.
        if packet.proto == TCP and (packet.tcp_flags & r.tcp_mask) != r.tcp_value:
            return False
    return True


def acl_session_keys(sw_if_index: int, is_input: bool, packet: Packet) -> list[AclSessionKey]:
    """The keys ``acl_fa_add_session`` installs for a reflected packet: its own, and the
    reverse one (addresses and ports swapped, the direction flipped:
    ``reverse_l4_u64_fastpath``), so the reply matches only on the same interface in the
    opposite direction. ICMP gets a reverse key only for types that expect an answer, with the
    answer's type (``reverse_l4_u64_slowpath_valid``)."""
    p0, p1 = packet.acl_ports()
    keys = [(sw_if_index, is_input, packet.src, packet.dst, packet.proto, p0, p1)]
    if packet.proto == ICMP:
        if packet.icmp_type in ICMP_REPLY_TYPE:
            reply = ICMP_REPLY_TYPE[packet.icmp_type]
            keys.append((sw_if_index, not is_input, packet.dst, packet.src, ICMP, reply, p1))
    else:
        keys.append((sw_if_index, not is_input, packet.dst, packet.src, packet.proto, p1, p0))
    return keys


# ---- NAT44-ED ---------------------------------------------------------------------------------

#: (vrf, proto, src, sport, dst, dport): a key of NAT44-ED's flow hash (``init_ed_k``); the
#: i2o and o2i flows of every session live in the one table.
FlowKey = tuple[int, int, str, int, str, int]


@attrs.frozen
class Flow:
    """The rewrite of one direction of a NAT44-ED session (``nat_6t_flow_t``)."""

    src: str
    sport: int
    dst: str
    dport: int
    vrf: int  # the FIB the translated packet is looked up in (txfib rewrite)
    session: str  # what created it, for the trace


#: The session name of NAT44-ED's forwarding bypass (``create_bypass_for_fwd``).
BYPASS = "forwarding bypass"


def _flow_key(vrf: int, packet: Packet) -> FlowKey:
    sport, dport = packet.nat_ports()
    return vrf, packet.proto, packet.src, sport, packet.dst, dport


def _rewrite(packet: Packet, flow: Flow) -> Packet:
    if packet.proto == ICMP:
        return attrs.evolve(packet, src=flow.src, dst=flow.dst, sport=flow.sport)
    if packet.proto in (TCP, UDP):
        return attrs.evolve(packet, src=flow.src, dst=flow.dst, sport=flow.sport, dport=flow.dport)
    return attrs.evolve(packet, src=flow.src, dst=flow.dst)


def _stable_hash(*parts: object) -> int:
    return zlib.crc32(" ".join(map(str, parts)).encode())


@attrs.define
class NodeState:
    """What earlier packets left behind on one node: ACL sessions, NAT flows, LB affinity."""

    acl_sessions: set[AclSessionKey] = attrs.field(factory=set)
    nat_flows: dict[FlowKey, Flow] = attrs.field(factory=dict)
    #: (client, external ip, proto, external port) -> backend (``nat_affinity_find_and_lock``).
    affinity: dict[tuple[str, str, int, int], NatLbLocal] = attrs.field(factory=dict)


def session_flows(snap: Snapshot) -> dict[FlowKey, Flow]:
    """The flows of the NAT sessions VPP already holds (``nat_ed_ses_i2o_flow_hash_add_del`` /
    ``_o2i_``). The session dump does not say in which VRF the outside end's packets arrive,
    so the out2in key is registered for every VRF with a NAT interface (our nodes have one)."""
    vrfs = sorted(
        {snap.nat.outside_vrf}
        | {i.vrf for r in snap.nat.interfaces if (i := snap.interface(r.sw_if_index)) is not None}
    )
    flows: dict[FlowKey, Flow] = {}
    for s in snap.nat.sessions:
        what = (
            f"VPP session {s.inside_ip}:{s.inside_port} <-> {s.outside_ip}:{s.outside_port}"
            f" with {s.ext_host_ip}:{s.ext_host_port}"
        )
        remote, remote_port = s.ext_host_ip, s.ext_host_port
        if s.ext_host_nat_ip:  # twice-NAT: the inside end sees the remote as this address
            remote, remote_port = s.ext_host_nat_ip, s.ext_host_nat_port
        i2o = (s.inside_vrf, s.protocol, s.inside_ip, s.inside_port, remote, remote_port)
        flows[i2o] = Flow(
            s.outside_ip, s.outside_port, s.ext_host_ip, s.ext_host_port, s.inside_vrf, what
        )
        for vrf in vrfs:
            o2i = (vrf, s.protocol, s.ext_host_ip, s.ext_host_port, s.outside_ip, s.outside_port)
            flows[o2i] = Flow(remote, remote_port, s.inside_ip, s.inside_port, s.inside_vrf, what)
    return flows


class _Stop(Exception):
    """A stage ended the packet's walk."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class Dataplane:
    """The forwarding model over one or several nodes' snapshots, with their sessions.

    ``pods`` optionally names what sits behind interfaces: node -> interface name -> label
    (e.g. ``"default/web-1"``), used in outcomes. A fresh instance has no sessions; every
    :meth:`send` may add some (reflect ACLs, NAT), which later packets see.
    """

    def __init__(
        self,
        snapshots: Snapshot | Iterable[Snapshot],
        pods: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        snaps = [snapshots] if isinstance(snapshots, Snapshot) else list(snapshots)
        self.snapshots: dict[str, Snapshot] = {s.node: s for s in snaps}
        if len(self.snapshots) != len(snaps):
            raise InputError("two snapshots have the same node name")
        self.pods = {node: dict(names) for node, names in (pods or {}).items()}
        self.state: dict[str, NodeState] = {
            node: NodeState(nat_flows=session_flows(snap)) for node, snap in self.snapshots.items()
        }
        self._ingress: dict[str, dict[str, InterfaceState | None]] = {}

    # ---- entry points ------------------------------------------------------------------------

    def node(self, name: str | None = None) -> Snapshot:
        if name is None:
            if len(self.snapshots) != 1:
                raise InputError("several nodes are known: name the node to start on")
            return next(iter(self.snapshots.values()))
        snap = self.snapshots.get(name)
        if snap is None:
            raise InputError(f"node {name!r}: no snapshot of it (known: {sorted(self.snapshots)})")
        return snap

    def ingress_of(self, ip: str, node: str | None = None) -> InterfaceState | None:
        """The interface a packet from ``ip`` enters VPP on: the one VPP routes ``ip`` out of
        (a pod's /32 via its TAP, the host via the host TAP), looked up in every VRF, most
        specific route first (default routes excluded)."""
        snap = self.node(node)
        cache = self._ingress.setdefault(snap.node, {})
        if ip not in cache:
            cache[ip] = _ingress_of(snap, ip)
        return cache[ip]

    def send(
        self, packet: Packet, *, node: str | None = None, ingress: str | int | None = None
    ) -> Outcome:
        """Evaluate ``packet`` entering ``node`` on ``ingress`` (interface name or
        sw_if_index; default: :meth:`ingress_of` its source). Sessions it creates stay."""
        snap = self.node(node)
        itf = self._resolve_ingress(snap, packet, ingress)
        walk = _Walk(self, packet)
        try:
            walk.ip4_input(snap, itf)
        except _Stop as stop:
            return stop.outcome
        raise AssertionError("a walk always ends in an outcome")  # pragma: no cover

    def reply(self, outcome: Outcome) -> Outcome:
        """Send the answer to a delivered packet back from where it was delivered: "A opened
        a connection to B, does B's reply reach A?"."""
        if not outcome.delivered or outcome.sw_if_index is None:
            raise InputError(f"only a delivered packet has a reply (this one {outcome.result})")
        if outcome.stage == "local":
            raise InputError(
                "the packet was delivered to VPP itself; VPP's answers are not modelled"
            )
        return self.send(outcome.packet.reply(), node=outcome.node, ingress=outcome.sw_if_index)

    def connect(
        self, packet: Packet, *, node: str | None = None, ingress: str | int | None = None
    ) -> tuple[Outcome, Outcome | None]:
        """A request and, when it was delivered to an interface, its reply."""
        request = self.send(packet, node=node, ingress=ingress)
        if not request.delivered or request.stage == "local":
            return request, None
        return request, self.reply(request)

    def originate(self, packet: Packet, *, node: str | None = None, vrf: int = 0) -> Outcome:
        """A packet VPP sends itself (an echo reply, an ICMP error): no input features, the
        ``ip4-lookup`` in ``vrf``, then the output features of the interface it leaves by."""
        snap = self.node(node)
        walk = _Walk(self, packet)
        try:
            walk.hop(snap, "ingress", "pass", f"{packet.describe()} sent by VPP (VRF {vrf})")
            walk.lookup(snap, vrf, depth=0)
        except _Stop as stop:
            return stop.outcome
        raise AssertionError("a walk always ends in an outcome")  # pragma: no cover

    def decapsulated(
        self, packet: Packet, *, tunnel: int, mac: str, node: str | None = None
    ) -> Outcome:
        """A frame for ``mac`` carrying ``packet`` arrived over VXLAN on the tunnel
        ``tunnel`` (sw_if_index) of ``node``: the receiving half of :meth:`send`'s VXLAN hop,
        for a peer whose snapshot this model does not hold."""
        snap = self.node(node)
        itf = snap.interface(tunnel)
        if itf is None or itf.kind != "vxlan":
            raise InputError(f"tunnel {tunnel}: no VXLAN interface of node {snap.node!r}")
        walk = _Walk(self, packet)
        try:
            walk.decapsulate(snap, itf, mac)
        except _Stop as stop:
            return stop.outcome
        raise AssertionError("a walk always ends in an outcome")  # pragma: no cover

    def replace_snapshot(self, snapshot: Snapshot) -> None:
        """A newer snapshot of one node (its configuration changed): the sessions earlier
        packets created stay, as VPP's session tables survive configuration changes; sessions
        the new snapshot reports that the model does not hold yet are added."""
        self.snapshots[snapshot.node] = snapshot
        self._ingress.pop(snapshot.node, None)
        state = self.state.setdefault(snapshot.node, NodeState())
        for key, flow in session_flows(snapshot).items():
            if key not in state.nat_flows:
                state.nat_flows[key] = flow

    def _resolve_ingress(
        self, snap: Snapshot, packet: Packet, ingress: str | int | None
    ) -> InterfaceState:
        if ingress is None:
            found = self.ingress_of(packet.src, snap.node)
            if found is None:
                raise InputError(
                    f"source {packet.src}: no interface of node {snap.node!r} leads to it; "
                    "name the ingress interface"
                )
            return found
        itf = snap.interface(ingress) if isinstance(ingress, int) else snap.interface_named(ingress)
        if itf is None:
            raise InputError(f"ingress {ingress!r}: no such interface on node {snap.node!r}")
        return itf


class _Walk:
    """One packet's way through the nodes; collects the hops."""

    def __init__(self, dataplane: Dataplane, packet: Packet) -> None:
        self.dp = dataplane
        self.packet = packet
        self.hops: list[Hop] = []
        self.steps = 0
        self.next_hop = ""
        self.l2_dst = ""
        #: The VRF of the interface the packet entered the current node on (VPP's
        #: ``rx_fib_index``, which NAT44-ED's output feature keys sessions by); None for a
        #: packet VPP sent itself.
        self.rx_vrf: int | None = None

    # ---- bookkeeping -------------------------------------------------------------------------

    def hop(self, snap: Snapshot, stage: str, verdict: str, reason: str, itf: str = "") -> None:
        self.steps += 1
        self.hops.append(Hop(snap.node, stage, verdict, reason, itf))
        if self.steps > MAX_STEPS:
            self.end(snap, "dropped", stage, f"more than {MAX_STEPS} steps: a forwarding loop")

    def end(
        self,
        snap: Snapshot,
        result: Result,
        stage: str,
        reason: str,
        itf: InterfaceState | None = None,
    ) -> None:
        name = itf.name if itf else ""
        pod = self.dp.pods.get(snap.node, {}).get(name, "") if itf else ""
        raise _Stop(
            Outcome(
                result=result,
                node=snap.node,
                interface=name,
                reason=reason,
                packet=self.packet,
                hops=tuple(self.hops),
                sw_if_index=itf.sw_if_index if itf else None,
                pod=pod,
                stage=stage,
                next_hop=self.next_hop,
                mac=self.l2_dst,
            )
        )

    def fail(self, snap: Snapshot, stage: str, reason: str, itf: InterfaceState | None) -> None:
        self.hop(snap, stage, "drop", reason, itf.name if itf else "")
        self.end(snap, "dropped", stage, reason, itf)

    # ---- L3 ----------------------------------------------------------------------------------

    def ip4_input(self, snap: Snapshot, itf: InterfaceState) -> None:
        self.hop(
            snap,
            "ingress",
            "pass",
            f"{self.packet.describe()} received on {itf.name} (VRF {itf.vrf})",
            itf.name,
        )
        self.rx_vrf = itf.vrf
        if not itf.enabled:
            self.fail(snap, "ingress", f"{itf.name} is admin down", itf)
        self.acl(snap, itf, is_input=True)
        vrf = self.nat_input(snap, itf)
        self.lookup(snap, itf.vrf if vrf is None else vrf, depth=0)

    def lookup(self, snap: Snapshot, vrf: int, depth: int) -> None:
        """``ip4-lookup``: longest prefix match in ``vrf``, then the entry's load balance."""
        entry = snap.lookup(vrf, self.packet.dst)
        if entry is None:
            self.fail(snap, "fib", f"VRF {vrf} has no route to {self.packet.dst}", None)
            return
        path, why = choose_path(entry, self.packet)
        where = f"VRF {vrf} {entry.prefix} ({entry.source})"
        if path.kind == "drop":
            self.fail(snap, "fib", f"{where}: drop route{why}", None)
        if path.kind in ("icmp-unreachable", "icmp-prohibit"):
            reason = f"{where}: {path.kind} route, VPP answers with ICMP {path.kind[5:]}{why}"
            self.hop(snap, "fib", "reject", reason)
            self.end(snap, "rejected", "fib", reason)
        if path.kind == "local":
            itf = snap.interface(path.sw_if_index) if path.sw_if_index is not None else None
            reason = f"{where}: local address of VPP{why}"
            self.hop(snap, "fib", "deliver", reason, itf.name if itf else "")
            self.end(snap, "delivered", "local", reason, itf)
        if path.sw_if_index is None:
            if path.next_hop:  # recursive: resolve the next hop in the path's table
                via = snap.lookup(path.table, path.next_hop)
                resolved = via.paths[0] if via and via.paths else None
                if resolved is None or resolved.sw_if_index is None:
                    self.fail(snap, "fib", f"{where}: next hop {path.next_hop} unresolved", None)
                    return
                out = snap.interface(resolved.sw_if_index)
                self.hop(snap, "fib", "pass", f"{where}: via {path.next_hop}{why}")
                self.output(snap, out, resolved.next_hop or path.next_hop)
                return
            if depth >= 8:
                self.fail(snap, "fib", f"{where}: lookup-in-table chain too long", None)
            self.hop(snap, "fib", "pass", f"{where}: lookup in VRF {path.table}{why}")
            self.lookup(snap, path.table, depth + 1)
            return
        out = snap.interface(path.sw_if_index)
        nh = path.next_hop or self.packet.dst
        target = f"via {path.next_hop}" if path.next_hop else "attached"
        self.hop(
            snap,
            "fib",
            "pass",
            f"{where}: {target} out {out.name if out else path.sw_if_index}{why}",
            out.name if out else "",
        )
        self.output(snap, out, nh)

    def output(self, snap: Snapshot, itf: InterfaceState | None, next_hop: str) -> None:
        if itf is None:
            self.fail(snap, "fib", "the route's interface does not exist", None)
            return
        if not itf.enabled:
            self.fail(snap, "output", f"{itf.name} is admin down", itf)
        mac = snap.neighbor(itf.sw_if_index, next_hop)
        self.next_hop, self.l2_dst = next_hop, mac
        self.nat_output(snap, itf)
        self.acl(snap, itf, is_input=False)
        domain = next((d for d in snap.bridge_domains if d.bvi == itf.sw_if_index), None)
        if domain is not None:
            if not mac:
                self.fail(
                    snap,
                    "neighbor",
                    f"no ARP entry for {next_hop} on {itf.name}: VPP would ARP into "
                    f"bridge domain {domain.bd_id}, which the model does not follow",
                    itf,
                )
            self.hop(
                snap,
                "neighbor",
                "pass",
                f"{next_hop} is at {mac} (bridge domain {domain.bd_id})",
                itf.name,
            )
            self.l2_forward(snap, domain.bd_id, mac, itf)
            return
        if itf.kind == "tap":
            found = f"{next_hop} is at {mac}" if mac else f"VPP resolves {next_hop} by ARP"
            netns = f" (netns {itf.host_namespace})" if itf.host_namespace else ""
            reason = f"delivered to {itf.name}{netns}: {found}"
            self.hop(snap, "deliver", "deliver", reason, itf.name)
            self.end(snap, "delivered", "deliver", reason, itf)
        reason = f"sent out of {itf.name} ({itf.kind}) towards {next_hop}"
        self.hop(snap, "output", "leave", reason, itf.name)
        self.end(snap, "left", "output", reason, itf)

    # ---- L2 and VXLAN ------------------------------------------------------------------------

    def l2_forward(self, snap: Snapshot, bd_id: int, mac: str, came_from: InterfaceState) -> None:
        """``l2-fwd``: the L2 FIB entry of the destination MAC in the bridge domain."""
        domain = next(d for d in snap.bridge_domains if d.bd_id == bd_id)
        self.l2_dst = mac
        entry = snap.l2_entry(bd_id, mac)
        member = snap.interface(entry.sw_if_index) if entry else None
        if member is None and domain.bvi is not None:
            bvi = snap.interface(domain.bvi)
            if bvi is not None and bvi.mac == mac:
                member = bvi
        if member is None:
            flood = "flooded (not followed by the model)" if domain.uu_flood else "dropped"
            reason = f"bridge domain {bd_id}: no L2 FIB entry for {mac}: unknown unicast {flood}"
            if domain.uu_flood:
                self.hop(snap, "l2", "leave", reason)
                self.end(snap, "left", "l2", reason)
            self.fail(snap, "l2", reason, None)
            return
        if member.sw_if_index == came_from.sw_if_index:
            self.fail(snap, "l2", f"L2 FIB sends {mac} back out {member.name}", member)
        self.hop(
            snap, "l2", "pass", f"bridge domain {bd_id}: {mac} is on {member.name}", member.name
        )
        if member.sw_if_index == domain.bvi:
            self.ip4_input(snap, member)
            return
        if member.kind == "vxlan":
            self.vxlan(snap, member, mac)
            return
        reason = f"sent out of bridge domain {bd_id} member {member.name}"
        if member.kind == "tap":
            self.hop(snap, "deliver", "deliver", reason, member.name)
            self.end(snap, "delivered", "deliver", reason, member)
        self.hop(snap, "l2", "leave", reason, member.name)
        self.end(snap, "left", "l2", reason, member)

    def vxlan(self, snap: Snapshot, tunnel: InterfaceState, mac: str) -> None:
        """``vxlan4-encap``, the underlay lookup, and on the peer ``vxlan4-input``: the tunnel
        whose source is our destination and whose destination is our source, same VNI."""
        self.hop(
            snap,
            "vxlan",
            "pass",
            f"encapsulated in VXLAN VNI {tunnel.vxlan_vni} "
            f"{tunnel.vxlan_src} -> {tunnel.vxlan_dst}",
            tunnel.name,
        )
        underlay = snap.lookup(tunnel.vxlan_encap_vrf, tunnel.vxlan_dst)
        if underlay is None or not underlay.paths or underlay.paths[0].kind != "normal":
            kind = underlay.paths[0].kind if underlay and underlay.paths else "no route"
            self.fail(
                snap,
                "vxlan",
                f"underlay VRF {tunnel.vxlan_encap_vrf} cannot reach {tunnel.vxlan_dst} ({kind})",
                tunnel,
            )
        for peer in self.dp.snapshots.values():
            if peer.node == snap.node:
                continue
            twin = next(
                (
                    i
                    for i in peer.interfaces
                    if i.kind == "vxlan"
                    and i.vxlan_src == tunnel.vxlan_dst
                    and i.vxlan_dst == tunnel.vxlan_src
                    and i.vxlan_vni == tunnel.vxlan_vni
                ),
                None,
            )
            if twin is None:
                continue
            self.decapsulate(peer, twin, mac)
            return
        reason = f"to {tunnel.vxlan_dst} over VXLAN (no snapshot of that node)"
        self.hop(snap, "vxlan", "leave", reason, tunnel.name)
        self.end(snap, "left", "vxlan", reason, tunnel)

    def decapsulate(self, snap: Snapshot, tunnel: InterfaceState, mac: str) -> None:
        """``vxlan4-input`` on ``tunnel``: the inner frame enters the tunnel's bridge domain."""
        domain = next((d for d in snap.bridge_domains if tunnel.sw_if_index in d.members), None)
        if domain is None:
            self.fail(snap, "vxlan", f"{tunnel.name} is in no bridge domain", tunnel)
            return
        self.hop(
            snap,
            "vxlan",
            "pass",
            f"decapsulated on {tunnel.name} into bridge domain {domain.bd_id}",
            tunnel.name,
        )
        self.l2_forward(snap, domain.bd_id, mac, tunnel)

    # ---- ACL plugin --------------------------------------------------------------------------

    def acl(self, snap: Snapshot, itf: InterfaceState, *, is_input: bool) -> None:
        """``acl-plugin-{in,out}-ip4-fa`` (``dataplane_node.c``): an existing session passes;
        otherwise the interface's ACLs in order, first matching rule; none matching denies.
        Without ACLs in this direction the node is not on the interface: everything passes."""
        binding = snap.acl_binding(itf.sw_if_index)
        indices = (binding.input if is_input else binding.output) if binding else ()
        if not indices:
            return
        stage = "acl-in" if is_input else "acl-out"
        state = self.dp.state[snap.node]
        p0, p1 = self.packet.acl_ports()
        key = (
            itf.sw_if_index,
            is_input,
            self.packet.src,
            self.packet.dst,
            self.packet.proto,
            p0,
            p1,
        )
        if key in state.acl_sessions:
            self.hop(snap, stage, "pass", "existing ACL session (reflected earlier)", itf.name)
            return
        for index in indices:
            acl = snap.acl(index)
            if acl is None:  # single_acl_match_5tuple: "the ACL does not exist ... Block"
                self.fail(snap, stage, f"ACL index {index} does not exist: VPP blocks", itf)
                return
            for number, rule in enumerate(acl.rules):
                if rule_matches(rule, self.packet):
                    self._acl_action(snap, stage, itf, is_input, acl, number, rule)
                    return
        names = ", ".join(_acl_name(snap.acl(i), i) for i in indices)
        self.fail(snap, stage, f"no rule of {names} matches: denied", itf)

    def _acl_action(
        self,
        snap: Snapshot,
        stage: str,
        itf: InterfaceState,
        is_input: bool,
        acl: AclState,
        number: int,
        rule: AclRule,
    ) -> None:
        where = f"{_acl_name(acl, acl.acl_index)} rule {number} ({_describe_rule(rule)})"
        if rule.action == "deny":
            self.fail(snap, stage, f"{where}: deny", itf)
        if rule.action == "reflect":
            keys = acl_session_keys(itf.sw_if_index, is_input, self.packet)
            self.dp.state[snap.node].acl_sessions.update(keys)
            other = "output" if is_input else "input"
            self.hop(
                snap,
                stage,
                "pass",
                f"{where}: permit+reflect, session on {itf.name}: replies pass its {other}",
                itf.name,
            )
            return
        self.hop(snap, stage, "pass", f"{where}: permit", itf.name)

    # ---- NAT44-ED ----------------------------------------------------------------------------

    def nat_input(self, snap: Snapshot, itf: InterfaceState) -> int | None:
        """NAT44-ED on ip4-unicast; returns the VRF the translated packet is looked up in
        (None: the receiving interface's)."""
        nat = snap.nat
        role = snap.nat_role(itf.sw_if_index)
        if not nat.enabled or role is None or not (role.inside or role.outside or role.output):
            return None
        state = self.dp.state[snap.node]
        flow = state.nat_flows.get(_flow_key(itf.vrf, self.packet))
        if flow is not None:  # fast path of whichever node the classifier picks
            return self._translate(snap, itf, flow, f"existing NAT session ({flow.session})")
        if role.inside and role.outside:
            path = self._classify(snap)
        elif role.inside:
            path = "in2out"
        else:  # outside, or output feature (nat-pre-out2in on input)
            path = "out2in"
        if path == "in2out":
            return self._in2out(snap, itf)
        return self._out2in(snap, itf)

    def nat_pass(self, snap: Snapshot, itf: InterfaceState, reason: str) -> None:
        self.hop(snap, "nat44", "pass", reason, itf.name)

    def _classify(self, snap: Snapshot) -> str:
        """``nat44_ed_classify_node_fn_inline``: out2in when the destination is a pool address
        or the external address of a mapping that translates (local != external)."""
        nat, dst = snap.nat, self.packet.dst
        if any(_in_pool(p.first_ip, p.last_ip, dst) for p in nat.pools if not p.twice_nat):
            return "out2in"
        mapping = _sm_by_external(snap, self.packet)
        if mapping is not None:
            local = mapping.local_ip if isinstance(mapping, NatStaticMapping) else "0.0.0.0"
            return "out2in" if local != dst else "in2out"
        return "in2out"

    def _translate(self, snap: Snapshot, itf: InterfaceState, flow: Flow, why: str) -> int:
        before = self.packet.describe()
        self.packet = _rewrite(self.packet, flow)
        self.hop(
            snap, "nat44", "translate", f"{why}: {before} => {self.packet.describe()}", itf.name
        )
        return flow.vrf

    def _in2out(self, snap: Snapshot, itf: InterfaceState) -> int | None:
        """``nat44-ed-in2out`` slow path: ``nat44_ed_not_translate`` then ``slow_path_ed``."""
        nat, packet = snap.nat, self.packet
        sport, dport = packet.nat_ports()
        reverse = (nat.outside_vrf, packet.proto, packet.dst, dport, packet.src, sport)
        state = self.dp.state[snap.node]
        mapped_dst = _sm_by_external(snap, packet)
        if reverse not in state.nat_flows and mapped_dst is None:
            if nat.forwarding:
                self.nat_pass(
                    snap,
                    itf,
                    "in2out: no session or mapping for the destination, forwarding on: "
                    "not translated",
                )
                return None
            entry = snap.lookup(itf.vrf, packet.dst)
            if entry is None or not entry.paths or entry.paths[0].kind != "normal":
                self.nat_pass(snap, itf, "in2out: destination not resolvable: not translated")
                return None
        if packet.proto not in (TCP, UDP, ICMP):
            # nat44_ed_in2out_slowpath_unknown_proto: address-only translation.
            self.nat_pass(
                snap,
                itf,
                f"in2out: protocol {packet.proto} is not modelled by the NAT stage: not translated",
            )
            return None
        own = _sm_by_local(snap, packet, itf.vrf)
        if own is not None and own.identity:
            self.nat_pass(snap, itf, f"in2out: identity mapping {own.local_ip}: not translated")
            return None
        if packet.proto == TCP and not packet.tcp_flags & TCP_SYN:
            self.fail(snap, "nat44", "in2out: no session and not a SYN: dropped (NON_SYN)", itf)
        if own is not None:
            outside, outside_port = own.external_ip, own.external_port or sport
            how = (
                f"static mapping {own.local_ip}:{own.local_port} <-> "
                f"{own.external_ip}:{own.external_port}"
            )
        else:
            pool = _pool_address(snap, itf.vrf, twice_nat=False)
            if pool is None:
                self.fail(
                    snap,
                    "nat44",
                    "in2out: no NAT pool address to translate to: dropped (OUT_OF_PORTS)",
                    itf,
                )
                return None
            outside, outside_port = pool, sport  # VPP tries the source port first
            how = f"dynamic SNAT to pool address {pool}"
        daddr, dst_port = packet.dst, dport
        if mapped_dst is not None:  # nat44_ed_external_sm_lookup: hairpinning
            if isinstance(mapped_dst, NatLbMapping):
                # An LB mapping has no single local address: VPP rewrites to 0.0.0.0:0.
                daddr, dst_port = "0.0.0.0", 0
                how += (
                    f"; destination is LB mapping {mapped_dst.external_ip}:"
                    f"{mapped_dst.external_port}, which only the out2in path balances: "
                    "rewritten to 0.0.0.0:0"
                )
            else:
                daddr = mapped_dst.local_ip
                dst_port = dport if mapped_dst.protocol == 0 else mapped_dst.local_port
                how += f"; hairpinning to {daddr}:{dst_port}"
        tx_vrf = itf.vrf
        i2o = Flow(outside, outside_port, daddr, dst_port, tx_vrf, f"in2out {how}")
        o2i = Flow(packet.dst, dport, packet.src, sport, itf.vrf, f"in2out {how}")
        state.nat_flows[_flow_key(itf.vrf, packet)] = i2o
        state.nat_flows[(tx_vrf, packet.proto, daddr, dst_port, outside, outside_port)] = o2i
        return self._translate(snap, itf, i2o, f"in2out new session: {how}")

    def _out2in(self, snap: Snapshot, itf: InterfaceState) -> int | None:
        """``nat44-ed-out2in`` slow path: a static / LB / identity mapping by external address
        (``snat_static_mapping_match`` by_external), else forwarding decides."""
        nat, packet = snap.nat, self.packet
        sport, dport = packet.nat_ports()
        mapping = _sm_by_external(snap, packet)
        if mapping is None:
            if not nat.forwarding:
                self.fail(
                    snap,
                    "nat44",
                    "out2in: no session or mapping, forwarding off: dropped (NO_TRANSLATION)",
                    itf,
                )
            # create_bypass_for_fwd (nat44_ed_out2in.c): forwarding registers an identity
            # session whose i2o flow (the reverse 5-tuple, in the receiving FIB) carries the
            # reply untranslated, also through an output-feature interface's in2out, which
            # would otherwise source-NAT it to a pool address.
            reverse = (itf.vrf, packet.proto, packet.dst, dport, packet.src, sport)
            bypass = Flow(packet.dst, dport, packet.src, sport, itf.vrf, BYPASS)
            self.dp.state[snap.node].nat_flows.setdefault(reverse, bypass)
            self.nat_pass(
                snap,
                itf,
                "out2in: no session or mapping, forwarding on: not translated "
                "(bypass session for the reply)",
            )
            return None
        if isinstance(mapping, NatStaticMapping) and mapping.identity:
            self.nat_pass(snap, itf, f"out2in: identity mapping {mapping.local_ip}: not translated")
            return None
        if packet.proto == TCP and not packet.tcp_flags & TCP_SYN:
            self.fail(snap, "nat44", "out2in: no session and not a SYN: dropped (NON_SYN)", itf)
        state = self.dp.state[snap.node]
        if isinstance(mapping, NatLbMapping):
            local, why = self._lb_choice(snap, mapping)
            l_ip, l_port, l_vrf = local.ip, local.port, local.vrf
            how = (
                f"LB mapping {mapping.external_ip}:{mapping.external_port} -> "
                f"{l_ip}:{l_port} ({why})"
            )
        else:
            l_ip, l_vrf = mapping.local_ip, mapping.vrf
            l_port = dport if mapping.protocol == 0 else mapping.local_port
            how = f"static mapping {mapping.external_ip}:{mapping.external_port} -> {l_ip}:{l_port}"
        src, src_port = packet.src, sport
        twice = mapping.twice_nat
        # create_session_for_static_mapping_ed: twice-NAT always, self-twice-NAT only when the
        # client is the chosen backend itself (hairpinning).
        if twice == "enabled" or (twice == "self" and packet.src == l_ip):
            pool = _pool_address(snap, l_vrf, twice_nat=True)
            if pool is None:
                self.fail(
                    snap,
                    "nat44",
                    f"out2in: {how}: twice-NAT needs a twice-NAT pool address: "
                    "dropped (OUT_OF_PORTS)",
                    itf,
                )
                return None
            src = pool
            how += f"; {'self-' if twice == 'self' else ''}twice-NAT source {pool}"
        o2i = Flow(src, src_port, l_ip, l_port, l_vrf, f"out2in {how}")
        i2o = Flow(packet.dst, dport, packet.src, sport, itf.vrf, f"out2in {how}")
        state.nat_flows[_flow_key(itf.vrf, packet)] = o2i
        state.nat_flows[(l_vrf, packet.proto, l_ip, l_port, src, src_port)] = i2o
        return self._translate(snap, itf, o2i, f"out2in new session: {how}")

    def _lb_choice(self, snap: Snapshot, mapping: NatLbMapping) -> tuple[NatLbLocal, str]:
        """``snat_static_mapping_match``: an affinity record first, else a weighted random
        pick over the backends' cumulative probabilities; the model's "random" number is a
        stable hash of the client's address and port."""
        packet = self.packet
        state = self.dp.state[snap.node]
        key = (packet.src, mapping.external_ip, packet.proto, mapping.external_port)
        if mapping.affinity and key in state.affinity:
            return state.affinity[key], f"affinity {mapping.affinity}s: same backend as before"
        total = sum(x.probability for x in mapping.locals)
        rand = 1 + _stable_hash(packet.src, packet.sport) % total
        cumulative = 0
        chosen = mapping.locals[-1]
        for local in mapping.locals:
            cumulative += local.probability
            if rand <= cumulative:
                chosen = local
                break
        if mapping.affinity:
            state.affinity[key] = chosen
        return chosen, f"VPP picks at random by weight; the model hashes the client: {rand}/{total}"

    def nat_output(self, snap: Snapshot, itf: InterfaceState) -> None:
        """``nat44-ed-in2out-output`` on an output-feature interface
        (``nat44_ed_in2out_fast_path_node_fn_inline`` with ``is_output_feature``): a session
        keyed by the *receiving* interface's FIB translates; else
        ``nat44_ed_not_translate_output_feature`` keeps the packet as it is when a flow of
        the *sending* FIB matches it (src NAT check) or when it is the reply of a session of
        the receiving FIB (dst NAT check); else ``slow_path_ed`` source-NATs it to the pool,
        its i2o flow keyed by the receiving FIB, its o2i flow by the sending one."""
        nat = snap.nat
        role = snap.nat_role(itf.sw_if_index)
        if not nat.enabled or role is None or not role.output:
            return
        state, packet = self.dp.state[snap.node], self.packet
        if nat.forwarding:
            # nat_not_translate_output_feature_fwd: first, a forwarding-bypass session's flow,
            # looked up in FIB 0 whatever the interfaces' VRFs, lets the packet pass as it is.
            bypass = state.nat_flows.get(_flow_key(0, packet))
            if bypass is not None and bypass.session == BYPASS:
                self._translate(
                    snap, itf, bypass, f"output feature: existing NAT session ({BYPASS})"
                )
                return
        tx_vrf = itf.vrf
        rx_vrf = tx_vrf if self.rx_vrf is None else self.rx_vrf
        flow = state.nat_flows.get(_flow_key(rx_vrf, packet))
        if flow is not None:
            self._translate(
                snap, itf, flow, f"output feature: existing NAT session ({flow.session})"
            )
            return
        sport, dport = packet.nat_ports()
        if _flow_key(tx_vrf, packet) in state.nat_flows:
            self.hop(
                snap,
                "nat44-output",
                "pass",
                f"output feature: a flow of VRF {tx_vrf} matches: not translated",
                itf.name,
            )
            return
        if (rx_vrf, packet.proto, packet.dst, dport, packet.src, sport) in state.nat_flows:
            self.hop(
                snap,
                "nat44-output",
                "pass",
                f"output feature: reply of a session of VRF {rx_vrf}: not translated",
                itf.name,
            )
            return
        pool = _pool_address(snap, rx_vrf, twice_nat=False)
        if pool is None:
            self.fail(
                snap, "nat44-output", "output feature: no pool address: dropped (OUT_OF_PORTS)", itf
            )
            return
        i2o = Flow(pool, sport, packet.dst, dport, tx_vrf, f"output SNAT to {pool}")
        o2i = Flow(packet.dst, dport, packet.src, sport, rx_vrf, f"output SNAT to {pool}")
        state.nat_flows[_flow_key(rx_vrf, packet)] = i2o
        state.nat_flows[(tx_vrf, packet.proto, packet.dst, dport, pool, sport)] = o2i
        before = packet.describe()
        self.packet = _rewrite(packet, i2o)
        self.hop(
            snap,
            "nat44-output",
            "translate",
            f"output feature: dynamic SNAT {before} => {self.packet.describe()}",
            itf.name,
        )


# ---- lookups shared by the stages ---------------------------------------------------------------


def _ingress_of(snap: Snapshot, ip: str) -> InterfaceState | None:
    best: tuple[int, InterfaceState] | None = None
    for vrf in sorted({e.vrf for e in snap.fib}):
        entry = snap.lookup(vrf, ip)
        if entry is None or entry.prefix.endswith("/0"):
            continue
        length = int(entry.prefix.rsplit("/", 1)[1])
        for path in entry.paths:
            if path.kind != "normal" or path.sw_if_index is None:
                continue
            itf = snap.interface(path.sw_if_index)
            usable = itf is not None and itf.kind in ("tap", "af_packet", "other")
            if usable and itf is not None and (best is None or length > best[0]):
                best = (length, itf)
    return best[1] if best else None


def longest_match(entries: Iterable[FibEntry], dst: str) -> FibEntry | None:
    """The most specific entry containing ``dst`` (``ip4_fib_forwarding_lookup``)."""
    address = ipaddress.IPv4Address(dst)
    best: tuple[int, FibEntry] | None = None
    for entry in entries:
        net = ipaddress.IPv4Network(entry.prefix)
        if address in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, entry)
    return best[1] if best else None


def choose_path(entry: FibEntry, packet: Packet) -> tuple[FibPath, str]:
    """The path of a load balance a packet takes. VPP uses only the paths of the best
    preference (``fib_path_list``), spreads them over buckets by weight, and picks a bucket by
    the flow hash of the 5-tuple (``ip4_compute_flow_hash``); the model picks by a stable hash
    of the same 5-tuple, so one flow always takes one path, as in VPP."""
    if not entry.paths:
        return FibPath(kind="drop"), " (no paths)"
    best = min(p.preference for p in entry.paths)
    usable = sorted(
        (p for p in entry.paths if p.preference == best),
        key=lambda p: (p.sw_if_index if p.sw_if_index is not None else -1, p.next_hop, p.table),
    )
    if len(usable) == 1:
        return usable[0], ""
    buckets = [p for p in usable for _ in range(p.weight)]
    sport, dport = packet.nat_ports()
    index = _stable_hash(packet.src, packet.dst, packet.proto, sport, dport) % len(buckets)
    chosen = buckets[index]
    return (
        chosen,
        f" (ECMP: {len(usable)} paths, {len(buckets)} buckets, flow hash picks bucket {index})",
    )


def _in_pool(first: str, last: str, ip: str) -> bool:
    value = ipaddress.IPv4Address(ip)
    return ipaddress.IPv4Address(first) <= value <= ipaddress.IPv4Address(last)


def _sm_by_external(snap: Snapshot, packet: Packet) -> NatStaticMapping | NatLbMapping | None:
    """``nat44_ed_sm_o2i_lookup``: by external address, port and protocol, then address-only
    (identity mappings included: they are static mappings with local == external)."""
    _, dport = packet.nat_ports()
    for m in snap.nat.static_mappings:
        if m.external_ip == packet.dst and m.protocol == packet.proto and m.external_port == dport:
            return m
    for lb in snap.nat.lb_mappings:
        if (
            lb.external_ip == packet.dst
            and lb.protocol == packet.proto
            and lb.external_port == dport
        ):
            return lb
    for m in snap.nat.static_mappings:
        if m.external_ip == packet.dst and m.protocol == 0:
            return m
    return None


def _sm_by_local(snap: Snapshot, packet: Packet, vrf: int) -> NatStaticMapping | None:
    """``nat44_ed_sm_i2o_lookup`` by local address / port / VRF, then address-only. Mappings
    flagged out2in-only are not in the i2o table (``nat44_ed_add_static_mapping``)."""
    sport, _ = packet.nat_ports()
    candidates = [
        m
        for m in snap.nat.static_mappings
        if m.local_ip == packet.src and not m.out2in_only and m.vrf in (vrf, snap.nat.inside_vrf)
    ]
    for m in candidates:
        if m.protocol == packet.proto and m.local_port == sport:
            return m
    return next((m for m in candidates if m.protocol == 0), None)


def _pool_address(snap: Snapshot, vrf: int, *, twice_nat: bool) -> str | None:
    """A pool address to translate to: ``nat_ed_alloc_addr_and_port`` (SNAT) and
    ``nat44_ed_alloc_i2o_addr_and_port`` (twice-NAT) take one of the receiving VRF, else one
    for any VRF. VPP spreads users over the addresses by a hash; the model takes the first."""
    pools = [p for p in snap.nat.pools if p.twice_nat == twice_nat]
    for wanted in (vrf, None):
        for p in pools:
            if p.vrf == wanted:
                return p.first_ip
    return None


def _acl_name(acl: AclState | None, index: int) -> str:
    if acl is None:
        return f"ACL {index}"
    return f"ACL {index} {acl.tag!r}" if acl.tag else f"ACL {index}"


def _describe_rule(rule: AclRule) -> str:
    parts = [rule.src_network or "any", "->", rule.dst_network or "any"]
    if rule.protocol not in ("any", 0):
        parts.append(str(rule.protocol))
        if rule.dst_ports != type(rule.dst_ports)():
            parts.append(f"dport {rule.dst_ports.first}-{rule.dst_ports.last}")
    return " ".join(parts)
