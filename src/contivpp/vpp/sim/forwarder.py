"""The simulator's dataplane: real frames from pod taps through the forwarding model.

With ``--linux-taps`` the simulator holds the file descriptor of every tap it created; this
module reads the frames pods write to them and does what VPP would, so pods can ping, connect
to each other and to services, and be stopped by policies, for real. It does not model VPP a
second time: every IPv4 packet is evaluated by :class:`contivpp.dataplane.Dataplane` over a
snapshot read from the simulator's own API socket with :func:`~contivpp.dataplane.read_snapshot`
(the dumps ``contivpp trace`` reads, so the trace and the traffic cannot disagree), re-read
whenever a client changed the configuration. Around the model it does the work of VPP's
nodes that the model leaves out: ARP (answers for VPP's addresses on the tap, the pod gateway
among them; requests for next hops it has no neighbour for), echo replies, TCP resets and ICMP
port-unreachable from VPP's own addresses, ICMP unreachable for reject routes, rewriting the
bytes NAT44-ED translated (checksums recomputed, :mod:`.frames`), idle timeouts of ACL and NAT
sessions (:mod:`.sessions`), and VXLAN over a real UDP socket to the peer simulator.

VXLAN: a tunnel's end points are the nodes' interconnect addresses. The forwarder listens on
``--vxlan-listen HOST:PORT`` and sends a tunnel's frames to ``--vxlan-peer IP=HOST:PORT`` (or
to ``IP:4789`` when no mapping names the tunnel's destination); a datagram arriving from a
mapped address is taken as sent by that peer IP. Without ``--vxlan-listen`` frames to other
nodes are dropped (counted as ``vxlan_off``).

It is a test dataplane: one asyncio task, a packet at a time, tens of microseconds of model
per packet (``bench/bench_forwarder.py`` measures it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import socket
import time
from typing import TYPE_CHECKING

import attrs
import structlog

from contivpp.dataplane.forward import ICMP, TCP, UDP, Dataplane, NodeState, Outcome
from contivpp.dataplane.snapshot import InterfaceState, Snapshot, read_snapshot
from contivpp.errors import ConfigError
from contivpp.vpp.client import VPPClient
from contivpp.vpp.sim import frames
from contivpp.vpp.sim.frames import Datagram, Ethernet, FrameError
from contivpp.vpp.sim.nat import DEFAULT_TIMEOUTS
from contivpp.vpp.sim.sessions import ACL_TIMEOUTS, AclSessions, AclTimeouts, Clock, NatFlows
from contivpp.vpp.sim.wire import mac_str

if TYPE_CHECKING:
    from contivpp.vpp.sim.server import Simulator

log = structlog.get_logger(__name__)

#: The API client name the forwarder registers with; its own reads do not count as changes.
CLIENT_NAME = "vppsim-forwarder"
NODE = "vpp"
VXLAN_PORT = 4789
#: Frames waiting for the forwarder beyond this are dropped (a full rx ring).
QUEUE_SIZE = 4096
MAX_FRAME = 65535
SWEEP_INTERVAL = 1.0

Address = tuple[str, int]


def parse_host_port(text: str, what: str) -> Address:
    host, sep, port = text.rpartition(":")
    try:
        number = int(port)
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ConfigError(f"{what} {text!r}: expected IPv4-ADDRESS:PORT") from None
    if not sep or not 0 < number < 65536:
        raise ConfigError(f"{what} {text!r}: port {port!r} is not in 1..65535")
    return host, number


#: Interfaces whose frames come from and go to a Linux interface: taps and host-interfaces.
_HOST_BACKED = ("tap", "af_packet")

#: The ethertypes the forwarder handles (IPv4 and ARP), as they appear on the wire.
_MODELLED = frozenset({frames.ETH_IP4.to_bytes(2, "big"), frames.ETH_ARP.to_bytes(2, "big")})


@attrs.frozen
class VxlanConfig:
    """Where this simulator receives VXLAN, and where each peer interconnect IP is reached."""

    listen: Address
    peers: tuple[tuple[str, Address], ...] = ()

    @classmethod
    def parse(cls, listen: str, peers: list[str]) -> VxlanConfig:
        mapped = []
        for text in peers:
            ip, sep, where = text.partition("=")
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise ConfigError(f"--vxlan-peer {text!r}: expected IP=HOST:PORT") from None
            if not sep:
                raise ConfigError(f"--vxlan-peer {text!r}: expected IP=HOST:PORT")
            mapped.append((ip, parse_host_port(where, "--vxlan-peer")))
        return cls(parse_host_port(listen, "--vxlan-listen"), tuple(mapped))


class Forwarder:
    """Moves frames between the simulator's taps (and VXLAN peers) through the model."""

    def __init__(
        self,
        sim: Simulator,
        vxlan: VxlanConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        acl_timeouts: AclTimeouts = ACL_TIMEOUTS,
    ) -> None:
        self.sim = sim
        self.vxlan = vxlan
        self.clock = clock
        self.acl_timeouts = acl_timeouts
        self.stats: collections.Counter[str] = collections.Counter()
        self._queue: asyncio.Queue[tuple[str, object, bytes]] = asyncio.Queue(QUEUE_SIZE)
        self._client: VPPClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._dataplane: Dataplane | None = None
        self._generation = -1
        self._nat_timeouts: dict[str, int] = dict(DEFAULT_TIMEOUTS)
        self._taps: dict[tuple[str, str], InterfaceState] = {}
        #: ARP learnt from the taps: (sw_if_index, ip) -> MAC (VPP's dynamic neighbours).
        self._arp: dict[tuple[int, str], bytes] = {}
        self._udp: socket.socket | None = None
        self._peers = dict(vxlan.peers) if vxlan else {}
        self._peer_of = {where: ip for ip, where in self._peers.items()}
        self._last_sweep = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, socket_path: str) -> None:
        loop = asyncio.get_running_loop()
        self._client = VPPClient(socket_path, name=CLIENT_NAME, timeout=10)
        await self._client.connect()
        if self.vxlan is not None:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.bind(self.vxlan.listen)
            except OSError as exc:
                udp.close()
                host, port = self.vxlan.listen
                raise OSError(exc.errno, f"--vxlan-listen {host}:{port}: {exc.strerror}") from exc
            udp.setblocking(False)
            self._udp = udp
            loop.add_reader(udp.fileno(), self._vxlan_readable)
        self._task = asyncio.create_task(self._run(), name="vppsim-forwarder")
        log.info("vppsim_forwarder_started", vxlan=self.vxlan.listen if self.vxlan else None)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._udp is not None:
            loop.remove_reader(self._udp.fileno())
            self._udp.close()
        if self._client is not None:
            await self._client.close()
        log.info("vppsim_forwarder_stopped", **dict(self.stats))

    # ---- taps (called by LinuxTaps as the simulator creates and deletes them) ----------------

    def tap_opened(self, netns: str, name: str, fd: int) -> None:
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._tap_readable, (netns, name), fd)

    def tap_closing(self, netns: str, name: str, fd: int) -> None:
        asyncio.get_running_loop().remove_reader(fd)

    def _tap_readable(self, source: tuple[str, str], fd: int) -> None:
        while True:
            try:
                frame = os.read(fd, MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the tap went away under us
                asyncio.get_running_loop().remove_reader(fd)
                return
            if not frame:
                return
            self._enqueue("tap", source, frame)

    def _vxlan_readable(self) -> None:
        assert self._udp is not None
        while True:
            try:
                data, sender = self._udp.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            self._enqueue("vxlan", sender, data)

    def _enqueue(self, kind: str, source: object, data: bytes) -> None:
        if kind == "tap" and data[12:14] not in _MODELLED:
            # IPv6 (a new pod's router solicitations, MLD) and the rest are not modelled: drop
            # them before they cost a snapshot read of the whole configuration.
            self.stats["not_ip4"] += 1
            return
        try:
            self._queue.put_nowait((kind, source, data))
        except asyncio.QueueFull:
            self.stats["rx_queue_full"] += 1

    # ---- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            kind, source, data = await self._queue.get()
            try:
                dp = await self.dataplane()
                self._sweep(dp)
                if kind == "tap":
                    self._from_tap(dp, source, data)  # type: ignore[arg-type]
                else:
                    self._from_vxlan(dp, source, data)  # type: ignore[arg-type]
            except FrameError as exc:
                self.stats["malformed"] += 1
                log.debug("vppsim_forwarder_malformed", source=str(source), error=str(exc))
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad frame must not stop the dataplane; say which and go on.
                self.stats["errors"] += 1
                log.exception("vppsim_forwarder_frame_failed", source=str(source))

    async def dataplane(self) -> Dataplane:
        """The model over the simulator's current state: re-read after any change."""
        generation = self.sim.generation
        if self._dataplane is None or generation != self._generation:
            assert self._client is not None
            snap = await read_snapshot(self._client, NODE)
            config = await self._client.call("nat44_show_running_config")
            self._nat_timeouts = {k: int(config.timeouts[k]) for k in DEFAULT_TIMEOUTS}
            self._install(snap)
            self._generation = generation
            self.stats["snapshots"] += 1
        assert self._dataplane is not None
        return self._dataplane

    def _install(self, snap: Snapshot) -> None:
        if self._dataplane is None:
            dp = Dataplane(snap)
            seeded = dp.state[NODE].nat_flows
            dp.state[NODE] = NodeState(
                acl_sessions=AclSessions(self.clock, self.acl_timeouts),
                nat_flows=NatFlows(self.clock, lambda: self._nat_timeouts),
            )
            for key, flow in seeded.items():
                dp.state[NODE].nat_flows[key] = flow
            self._dataplane = dp
        else:
            self._dataplane.replace_snapshot(snap)
        self._taps = {
            (i.host_namespace, i.host_if_name): i for i in snap.interfaces if i.kind in _HOST_BACKED
        }

    def _sweep(self, dp: Dataplane) -> None:
        now = self.clock()
        if now - self._last_sweep < SWEEP_INTERVAL:
            return
        self._last_sweep = now
        state = dp.state[NODE]
        for table in (state.acl_sessions, state.nat_flows):
            if isinstance(table, AclSessions | NatFlows):
                self.stats["sessions_expired"] += table.expire()

    def _set_flags(self, dp: Dataplane, tcp_flags: int) -> None:
        state = dp.state[NODE]
        for table in (state.acl_sessions, state.nat_flows):
            if isinstance(table, AclSessions | NatFlows):
                table.tcp_flags = tcp_flags

    # ---- frames in ---------------------------------------------------------------------------

    def _from_tap(self, dp: Dataplane, source: tuple[str, str], frame: bytes) -> None:
        itf = self._taps.get(source)
        if itf is None:
            self.stats["unknown_tap"] += 1
            return
        self.stats["rx"] += 1
        eth = Ethernet.parse(frame)
        if eth.ethertype == frames.ETH_ARP:
            self._arp_in(dp.node(NODE), itf, frames.Arp.parse(eth.payload))
            return
        if eth.ethertype != frames.ETH_IP4:
            self.stats["not_ip4"] += 1  # IPv6 and the rest: not modelled
            return
        if eth.dst not in (frames.mac_bytes(itf.mac), frames.BROADCAST):
            self.stats["l3_mac_mismatch"] += 1  # ethernet-input: not for this interface
            return
        dgram = Datagram.parse(eth.payload)
        packet = dgram.packet()
        self._set_flags(dp, packet.tcp_flags if packet.proto == TCP else 0)
        outcome = dp.send(packet, node=NODE, ingress=itf.sw_if_index)
        self._emit(dp, outcome, dgram, itf)

    def _from_vxlan(self, dp: Dataplane, sender: Address, data: bytes) -> None:
        vni, inner = frames.parse_vxlan(data)
        remote = self._peer_of.get(sender, sender[0])
        snap = dp.node(NODE)
        tunnel = next(
            (
                i
                for i in snap.interfaces
                if i.kind == "vxlan" and i.vxlan_vni == vni and i.vxlan_dst == remote
            ),
            None,
        )
        if tunnel is None:
            self.stats["vxlan_no_tunnel"] += 1  # vxlan4-input: "no such tunnel"
            return
        self.stats["rx_vxlan"] += 1
        eth = Ethernet.parse(inner)
        if eth.ethertype != frames.ETH_IP4:
            self.stats["not_ip4"] += 1  # our nodes' BVIs have static ARP for each other
            return
        dgram = Datagram.parse(eth.payload)
        packet = dgram.packet()
        self._set_flags(dp, packet.tcp_flags if packet.proto == TCP else 0)
        outcome = dp.decapsulated(
            packet, node=NODE, tunnel=tunnel.sw_if_index, mac=mac_str(eth.dst)
        )
        self._emit(dp, outcome, dgram, tunnel)

    def _arp_in(self, snap: Snapshot, itf: InterfaceState, arp: frames.Arp) -> None:
        """``arp-input``: learn the sender, answer requests for VPP's own addresses on the
        interface (an unnumbered TAP answers for its donor's: the pod gateway)."""
        if arp.sender_ip != "0.0.0.0":
            self._arp[(itf.sw_if_index, arp.sender_ip)] = arp.sender_mac
        if arp.op != frames.ARP_REQUEST or arp.target_ip == arp.sender_ip:
            return
        if arp.target_ip in _own_addresses(snap, itf):
            self.stats["arp_replied"] += 1
            self._write_tap(itf, frames.arp_reply(arp, frames.mac_bytes(itf.mac)))

    # ---- frames out --------------------------------------------------------------------------

    def _emit(self, dp: Dataplane, outcome: Outcome, dgram: Datagram, rx: InterfaceState) -> None:
        snap = dp.node(NODE)
        self.stats[outcome.result] += 1
        if outcome.result == "delivered" and outcome.stage == "local":
            self._answer(dp, outcome, Datagram.parse(dgram.rewritten(outcome.packet)), rx)
        elif outcome.result == "delivered":
            out = snap.interface(outcome.sw_if_index) if outcome.sw_if_index is not None else None
            if out is not None:
                self._deliver(snap, out, outcome, dgram.rewritten(outcome.packet, ttl_decrement=1))
        elif outcome.result == "rejected":
            # ip_null_dpo.c: unreachable -> host unreachable, prohibit -> admin prohibited.
            code = (
                frames.CODE_HOST_PROHIBITED
                if "icmp-prohibit" in outcome.reason
                else frames.CODE_HOST_UNREACHABLE
            )
            offending = Datagram.parse(dgram.rewritten(outcome.packet))
            self._icmp_error(dp, rx, offending, code)
        elif outcome.result == "left" and outcome.stage == "vxlan":
            self._encapsulate(snap, outcome, dgram.rewritten(outcome.packet, ttl_decrement=1))
        elif outcome.result == "left" and outcome.stage == "output":
            # Out of the node through a host-interface (the uplink): onto its Linux wire.
            out = snap.interface(outcome.sw_if_index) if outcome.sw_if_index is not None else None
            if out is not None:
                self._deliver(snap, out, outcome, dgram.rewritten(outcome.packet, ttl_decrement=1))
        else:
            log.debug(
                "vppsim_forwarder_dropped",
                packet=outcome.packet.describe(),
                stage=outcome.stage,
                reason=outcome.reason,
            )

    def _answer(
        self, dp: Dataplane, outcome: Outcome, request: Datagram, rx: InterfaceState
    ) -> None:
        """What VPP itself answers to a packet for one of its addresses."""
        packet = request.packet()
        if packet.proto == ICMP and packet.icmp_type == frames.ICMP_ECHO:
            self._originate(dp, frames.echo_reply(request), rx.vrf)  # ip4_icmp_echo_request
        elif packet.proto == UDP:
            self._icmp_error(dp, rx, request, frames.CODE_PORT_UNREACHABLE)  # udp_local.c
        elif packet.proto == TCP and not packet.tcp_flags & frames.TCP_RST:
            self._originate(dp, frames.tcp_reset(request), rx.vrf)  # tcp46-reset
        else:
            self.stats["local_ignored"] += 1

    def _icmp_error(
        self, dp: Dataplane, rx: InterfaceState, offending: Datagram, code: int
    ) -> None:
        if offending.proto == ICMP and offending.l4[:1] not in (b"\x00", b"\x08"):
            return  # RFC 1122: never an ICMP error about an ICMP error
        source = _source_address(dp.node(NODE), rx)
        if source:
            error = frames.icmp_error(source, offending, frames.ICMP_UNREACHABLE, code)
            self._originate(dp, error, rx.vrf)

    def _originate(self, dp: Dataplane, raw: bytes, vrf: int) -> None:
        dgram = Datagram.parse(raw)
        outcome = dp.originate(dgram.packet(), node=NODE, vrf=vrf)
        snap = dp.node(NODE)
        self.stats["originated"] += 1
        if (outcome.result == "delivered" and outcome.stage != "local") or (
            outcome.result == "left" and outcome.stage == "output"
        ):
            out = snap.interface(outcome.sw_if_index) if outcome.sw_if_index is not None else None
            if out is not None:
                self._deliver(snap, out, outcome, dgram.rewritten(outcome.packet))
        elif outcome.result == "left" and outcome.stage == "vxlan":
            self._encapsulate(snap, outcome, dgram.rewritten(outcome.packet))

    def _deliver(self, snap: Snapshot, out: InterfaceState, outcome: Outcome, data: bytes) -> None:
        if out.kind not in _HOST_BACKED:
            self.stats["not_a_tap"] += 1
            return
        next_hop = outcome.next_hop or outcome.packet.dst
        mac = (
            frames.mac_bytes(outcome.mac)
            if outcome.mac
            else self._arp.get((out.sw_if_index, next_hop))
        )
        if mac is None:
            # ip4-arp: the packet that needs resolution is dropped, a request goes out.
            self.stats["arp_miss"] += 1
            source = _source_address(snap, out)
            if source:
                request = frames.arp_request(frames.mac_bytes(out.mac), source, next_hop)
                self._write_tap(out, request)
            return
        self._write_tap(out, Ethernet(mac, frames.mac_bytes(out.mac), frames.ETH_IP4, data).pack())

    def _write_tap(self, itf: InterfaceState, frame: bytes) -> None:
        linux = self.sim.state.linux
        fd = linux.fd_of(itf.host_namespace, itf.host_if_name) if linux else None
        if fd is None:
            self.stats["no_host_tap"] += 1
            return
        try:
            os.write(fd, frame)
            self.stats["tx"] += 1
        except OSError:  # the pod's end is down or its queue full: the frame is lost
            self.stats["tx_failed"] += 1

    def _encapsulate(self, snap: Snapshot, outcome: Outcome, data: bytes) -> None:
        """``vxlan4-encap``: the inner frame from the bridge domain's BVI, over UDP."""
        if self._udp is None:
            self.stats["vxlan_off"] += 1
            return
        tunnel = snap.interface(outcome.sw_if_index) if outcome.sw_if_index is not None else None
        if tunnel is None or not outcome.mac:
            self.stats["vxlan_unresolved"] += 1
            return
        domain = next((d for d in snap.bridge_domains if tunnel.sw_if_index in d.members), None)
        bvi = snap.interface(domain.bvi) if domain and domain.bvi is not None else None
        src = frames.mac_bytes(bvi.mac) if bvi else b"\0" * 6
        inner = Ethernet(frames.mac_bytes(outcome.mac), src, frames.ETH_IP4, data).pack()
        peer = self._peers.get(tunnel.vxlan_dst, (tunnel.vxlan_dst, VXLAN_PORT))
        try:
            self._udp.sendto(frames.vxlan_header(tunnel.vxlan_vni) + inner, peer)
            self.stats["tx_vxlan"] += 1
        except OSError:
            self.stats["tx_failed"] += 1


def _own_addresses(snap: Snapshot, itf: InterfaceState) -> set[str]:
    """The IPv4 addresses VPP has on ``itf``: its own, or its donor's when unnumbered."""
    holder = snap.interface(itf.unnumbered_to) if itf.unnumbered_to is not None else itf
    return {a.split("/")[0] for a in (holder.addresses if holder else ())}


def _source_address(snap: Snapshot, itf: InterfaceState) -> str:
    """The address VPP sends from on ``itf`` (``ip4_src_address_for_packet``): the
    interface's (or donor's) first one, else any address in the interface's VRF."""
    own = sorted(_own_addresses(snap, itf))
    if own:
        return own[0]
    for other in snap.interfaces:
        if other.vrf == itf.vrf and other.addresses:
            return other.addresses[0].split("/")[0]
    return ""
