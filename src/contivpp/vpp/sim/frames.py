"""Ethernet, ARP, IPv4, ICMP, TCP and UDP on the wire, for the simulator's forwarder.

The forwarder (:mod:`.forwarder`) reads real frames from pod taps, asks the forwarding model
what VPP does with them, and writes real frames back; this module is the byte-level half of
that: parsing a frame into what the model needs (:class:`~contivpp.dataplane.Packet`),
rewriting addresses and ports the way NAT44-ED did with every checksum recomputed (RFC 791 /
793 / 768 / 792, the pseudo-header for TCP and UDP), and building what VPP sends itself (ARP
replies and requests, echo replies, ICMP errors, TCP resets). No I/O and no state here, so it
is tested byte for byte.
"""

from __future__ import annotations

import ipaddress
import struct

import attrs

from contivpp.dataplane.forward import ICMP, TCP, UDP, Packet

ETH_IP4 = 0x0800
ETH_ARP = 0x0806
BROADCAST = b"\xff" * 6
ARP_REQUEST, ARP_REPLY = 1, 2
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO = 0, 3, 8
#: ICMP destination-unreachable codes VPP sends (RFC 792 / RFC 1812): host unreachable and
#: host administratively prohibited from the null DPO (``ip_null_dpo.c``), port unreachable
#: for a UDP port VPP does not listen on (``udp_local.c``).
CODE_HOST_UNREACHABLE, CODE_PORT_UNREACHABLE, CODE_HOST_PROHIBITED = 1, 3, 10
TCP_FIN, TCP_RST, TCP_ACK_FLAG = 0x01, 0x04, 0x10
#: The TTL VPP puts on what it sends itself (``ip4_header_set_len_w_chksum`` callers use 64).
VPP_TTL = 64

_ETH = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
#: The shortest L4 header the forwarder reads and rewrites (ports, flags, checksum, echo id).
_L4_MIN = {TCP: 20, UDP: 8, ICMP: 8}


class FrameError(ValueError):
    """A frame the forwarder cannot read (truncated, not IPv4, bad header length)."""


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


@attrs.frozen
class Ethernet:
    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes

    @classmethod
    def parse(cls, frame: bytes) -> Ethernet:
        if len(frame) < _ETH.size:
            raise FrameError(f"frame of {len(frame)} bytes is shorter than an Ethernet header")
        dst, src, ethertype = _ETH.unpack_from(frame)
        return cls(dst, src, ethertype, frame[_ETH.size :])

    def pack(self) -> bytes:
        return _ETH.pack(self.dst, self.src, self.ethertype) + self.payload


@attrs.frozen
class Arp:
    op: int
    sender_mac: bytes
    sender_ip: str
    target_mac: bytes
    target_ip: str

    @classmethod
    def parse(cls, payload: bytes) -> Arp:
        if len(payload) < _ARP.size:
            raise FrameError("truncated ARP packet")
        htype, ptype, hlen, plen, op, smac, sip, tmac, tip = _ARP.unpack_from(payload)
        if (htype, ptype, hlen, plen) != (1, ETH_IP4, 6, 4):
            raise FrameError("ARP for something other than Ethernet / IPv4")
        return cls(op, smac, str(ipaddress.IPv4Address(sip)), tmac, str(ipaddress.IPv4Address(tip)))

    def pack(self) -> bytes:
        return _ARP.pack(
            1,
            ETH_IP4,
            6,
            4,
            self.op,
            self.sender_mac,
            ipaddress.IPv4Address(self.sender_ip).packed,
            self.target_mac,
            ipaddress.IPv4Address(self.target_ip).packed,
        )


def arp_reply(request: Arp, mac: bytes) -> bytes:
    """The frame answering ``request`` with ``mac`` for its target address."""
    reply = Arp(ARP_REPLY, mac, request.target_ip, request.sender_mac, request.sender_ip)
    return Ethernet(request.sender_mac, mac, ETH_ARP, reply.pack()).pack()


def arp_request(src_mac: bytes, src_ip: str, target_ip: str) -> bytes:
    request = Arp(ARP_REQUEST, src_mac, src_ip, b"\0" * 6, target_ip)
    return Ethernet(BROADCAST, src_mac, ETH_ARP, request.pack()).pack()


@attrs.frozen
class Datagram:
    """An IPv4 datagram: its header fields the forwarder touches, and the raw bytes."""

    raw: bytes
    header_len: int
    proto: int
    src: str
    dst: str
    ttl: int

    @classmethod
    def parse(cls, data: bytes) -> Datagram:
        if len(data) < _IP4.size:
            raise FrameError("truncated IPv4 header")
        ver_ihl, _, total, _, _, ttl, proto, _, src, dst = _IP4.unpack_from(data)
        header_len = (ver_ihl & 0x0F) * 4
        if ver_ihl >> 4 != 4 or header_len < _IP4.size or total < header_len or total > len(data):
            raise FrameError("not a well-formed IPv4 header")
        l4_min = _L4_MIN.get(proto, 0)
        if total - header_len < l4_min:
            name = {TCP: "TCP", UDP: "UDP", ICMP: "ICMP"}[proto]
            raise FrameError(f"truncated {name} header ({total - header_len} < {l4_min} bytes)")
        return cls(
            bytes(data[:total]),  # Ethernet pads short frames: the IP length is the truth
            header_len,
            proto,
            str(ipaddress.IPv4Address(src)),
            str(ipaddress.IPv4Address(dst)),
            ttl,
        )

    @property
    def l4(self) -> bytes:
        return self.raw[self.header_len :]

    def packet(self) -> Packet:
        """What the forwarding model reads: the 5-tuple, TCP flags, ICMP type / code / id."""
        l4 = self.l4
        if self.proto in (TCP, UDP) and len(l4) >= 4:
            sport, dport = struct.unpack_from("!HH", l4)
            flags = l4[13] if self.proto == TCP and len(l4) >= 14 else 0
            return Packet(self.src, self.dst, self.proto, sport, dport, tcp_flags=flags)
        if self.proto == ICMP and len(l4) >= 8:
            icmp_type, code = l4[0], l4[1]
            # Echo (and the other query types) carry an identifier NAT44-ED keys sessions by.
            ident = struct.unpack_from("!H", l4, 4)[0] if icmp_type in (0, 8, 13, 14) else 0
            return Packet(
                self.src, self.dst, ICMP, ident, 0, tcp_flags=0, icmp_type=icmp_type, icmp_code=code
            )
        return Packet(self.src, self.dst, self.proto, tcp_flags=0)

    def rewritten(self, packet: Packet, *, ttl_decrement: int = 0) -> bytes:
        """These bytes with the addresses and ports of ``packet`` (as NAT left it) and every
        checksum recomputed: the IPv4 header's, and TCP's / UDP's over the pseudo-header or
        ICMP's over the message (an identifier change alters it)."""
        header = bytearray(self.raw[: self.header_len])
        l4 = bytearray(self.l4)
        header[4 * 3 : 4 * 4] = ipaddress.IPv4Address(packet.src).packed
        header[4 * 4 : 4 * 5] = ipaddress.IPv4Address(packet.dst).packed
        header[8] = max(self.ttl - ttl_decrement, 0)
        if self.proto in (TCP, UDP) and len(l4) >= 8:
            struct.pack_into("!HH", l4, 0, packet.sport, packet.dport)
            _l4_checksum(header, l4, self.proto)
        elif self.proto == ICMP and len(l4) >= 8:
            if l4[0] in (0, 8, 13, 14):
                struct.pack_into("!H", l4, 4, packet.sport)
            struct.pack_into("!H", l4, 2, 0)
            struct.pack_into("!H", l4, 2, checksum(bytes(l4)))
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, checksum(bytes(header)))
        return bytes(header + l4)


def _l4_checksum(header: bytearray, l4: bytearray, proto: int) -> None:
    offset = 16 if proto == TCP else 6
    if proto == UDP and l4[6:8] == b"\0\0":
        return  # UDP without a checksum (RFC 768) stays without one
    struct.pack_into("!H", l4, offset, 0)
    pseudo = bytes(header[12:20]) + struct.pack("!BBH", 0, proto, len(l4))
    value = checksum(pseudo + bytes(l4))
    if proto == UDP and value == 0:
        value = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    struct.pack_into("!H", l4, offset, value)


def ip4(src: str, dst: str, proto: int, payload: bytes, ttl: int = VPP_TTL) -> bytes:
    """An IPv4 datagram VPP originates (no options, don't-fragment clear)."""
    header = bytearray(
        _IP4.pack(
            0x45,
            0,
            _IP4.size + len(payload),
            0,
            0,
            ttl,
            proto,
            0,
            ipaddress.IPv4Address(src).packed,
            ipaddress.IPv4Address(dst).packed,
        )
    )
    struct.pack_into("!H", header, 10, checksum(bytes(header)))
    return bytes(header) + payload


def echo_reply(request: Datagram) -> bytes:
    """VPP's answer to an echo request for one of its addresses (``ip4_icmp_echo_request``):
    addresses swapped, type 0, identifier, sequence and data kept."""
    l4 = bytearray(request.l4)
    l4[0] = ICMP_ECHO_REPLY
    struct.pack_into("!H", l4, 2, 0)
    struct.pack_into("!H", l4, 2, checksum(bytes(l4)))
    return ip4(request.dst, request.src, ICMP, bytes(l4))


def icmp_error(source: str, offending: Datagram, icmp_type: int, code: int) -> bytes:
    """An ICMP error about ``offending`` from ``source`` (``icmp4_error``): the offending
    header and the first 8 bytes of its payload (RFC 792)."""
    quoted = offending.raw[: offending.header_len + 8]
    body = bytearray(struct.pack("!BBHI", icmp_type, code, 0, 0) + quoted)
    struct.pack_into("!H", body, 2, checksum(bytes(body)))
    return ip4(source, offending.src, ICMP, bytes(body))


def tcp_reset(offending: Datagram) -> bytes:
    """The RST+ACK that refuses a TCP segment to a port nobody listens on (RFC 793, "reset
    generation": ACK = SEQ + segment length, a SYN counting one)."""
    l4 = offending.l4
    sport, dport, seq = struct.unpack_from("!HHI", l4)
    data_offset = (l4[12] >> 4) * 4
    length = len(l4) - data_offset + (1 if l4[13] & 0x02 else 0) + (1 if l4[13] & TCP_FIN else 0)
    segment = bytearray(
        struct.pack(
            "!HHIIBBHHH",
            dport,
            sport,
            0,
            (seq + length) & 0xFFFFFFFF,
            5 << 4,
            TCP_RST | TCP_ACK_FLAG,
            0,
            0,
            0,
        )
    )
    header = bytearray(ip4(offending.dst, offending.src, TCP, b"")[:20])
    _l4_checksum(header, segment, TCP)
    return ip4(offending.dst, offending.src, TCP, bytes(segment))


def vxlan_header(vni: int) -> bytes:
    """RFC 7348: flags with the I bit (VNI valid), 24 reserved bits, the VNI, 8 reserved."""
    return struct.pack("!II", 0x08 << 24, vni << 8)


def parse_vxlan(datagram: bytes) -> tuple[int, bytes]:
    """(VNI, inner frame) of a VXLAN UDP payload."""
    if len(datagram) < 8 + _ETH.size:
        raise FrameError("truncated VXLAN packet")
    flags, vni = struct.unpack_from("!II", datagram)
    if not flags & (0x08 << 24):
        raise FrameError("VXLAN header without the I flag")
    return vni >> 8, datagram[8:]
