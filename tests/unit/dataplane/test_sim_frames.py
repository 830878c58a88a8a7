"""The forwarder's bytes: parsing, NAT rewrites with checksums, what VPP sends itself.

Expected bytes come from literal packets, not from the code under test: the IPv4 header
example of RFC 1071's usual illustration (checksum 0xb861), and two datagrams a Linux kernel
wrote to a tap (its checksums computed by the kernel). A NAT rewrite's checksums are checked
against RFC 1624's incremental update of the kernel's checksum, a different algorithm from the
full recomputation the forwarder does.
"""

from __future__ import annotations

import struct

import pytest

from contivpp.dataplane import ICMP, TCP, UDP, Packet
from contivpp.vpp.sim import frames
from contivpp.vpp.sim.frames import Datagram, FrameError

# 10.1.1.2:40000 -> 10.96.0.10:53 UDP "hello", and 10.1.1.2:40001 -> 10.96.0.10:80 TCP SYN,
# as the kernel of a pod netns wrote them to its tap.
KERNEL_UDP = bytes.fromhex("45000021d668400040114ef70a0101020a60000a9c400035000d0a2068656c6c6f")
KERNEL_SYN = bytes.fromhex(
    "4500003cd12d4000400654220a0101020a60000a9c41005044ad59be00000000a002faf04f590000"
    "020405b40402080a0fdf9d6a000000000103030a"
)


def rfc1624(old_checksum: int, old_words: list[int], new_words: list[int]) -> int:
    """HC' = ~(~HC + ~m + m') over every changed 16-bit word (RFC 1624, eqn. 3)."""
    total = ~old_checksum & 0xFFFF
    for old, new in zip(old_words, new_words, strict=True):
        total += (~old & 0xFFFF) + new
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def words(ip: str) -> list[int]:
    a, b, c, d = (int(x) for x in ip.split("."))
    return [a << 8 | b, c << 8 | d]


def test_ipv4_header_checksum_of_the_textbook_example() -> None:
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert frames.checksum(header) == 0xB861
    # A header with its checksum in place sums to zero.
    assert frames.checksum(header[:10] + b"\xb8\x61" + header[12:]) == 0


def test_packets_read_from_kernel_datagrams() -> None:
    udp = Datagram.parse(KERNEL_UDP)
    assert udp.packet() == Packet("10.1.1.2", "10.96.0.10", UDP, 40000, 53, tcp_flags=0)
    syn = Datagram.parse(KERNEL_SYN).packet()
    assert (syn.proto, syn.sport, syn.dport, syn.tcp_flags) == (TCP, 40001, 80, 0x02)


def test_rewriting_nothing_reproduces_the_kernels_checksums() -> None:
    for raw in (KERNEL_UDP, KERNEL_SYN):
        dgram = Datagram.parse(raw)
        assert dgram.rewritten(dgram.packet()) == raw


@pytest.mark.parametrize(("raw", "offset"), [(KERNEL_UDP, 26), (KERNEL_SYN, 36)])
def test_dnat_rewrite_updates_ip_and_l4_checksums_as_rfc1624(raw: bytes, offset: int) -> None:
    dgram = Datagram.parse(raw)
    old = dgram.packet()
    new = Packet(old.src, "10.1.1.3", old.proto, old.sport, 8080, tcp_flags=old.tcp_flags)
    out = dgram.rewritten(new, ttl_decrement=1)
    assert out[16:20] == bytes([10, 1, 1, 3])
    assert struct.unpack_from("!H", out, 22)[0] == 8080
    assert out[8] == 63  # TTL 64 - 1
    # IPv4 header: the destination words and the TTL/protocol word changed.
    old_ip_sum = struct.unpack_from("!H", raw, 10)[0]
    ttl_proto_old, ttl_proto_new = raw[8] << 8 | raw[9], (raw[8] - 1) << 8 | raw[9]
    assert struct.unpack_from("!H", out, 10)[0] == rfc1624(
        old_ip_sum,
        [*words("10.96.0.10"), ttl_proto_old],
        [*words("10.1.1.3"), ttl_proto_new],
    )
    # TCP / UDP: the pseudo-header's destination and the destination port.
    old_l4_sum = struct.unpack_from("!H", raw, offset)[0]
    assert struct.unpack_from("!H", out, offset)[0] == rfc1624(
        old_l4_sum, [*words("10.96.0.10"), old.dport], [*words("10.1.1.3"), 8080]
    )


def test_echo_reply_keeps_id_sequence_and_data() -> None:
    body = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x1234, 7) + b"contivpp")
    struct.pack_into("!H", body, 2, frames.checksum(bytes(body)))
    request = Datagram.parse(frames.ip4("10.1.1.2", "10.1.1.1", ICMP, bytes(body)))
    reply = Datagram.parse(frames.echo_reply(request))
    assert (reply.src, reply.dst, reply.ttl) == ("10.1.1.1", "10.1.1.2", 64)
    assert reply.l4[0] == 0 and reply.l4[4:] == bytes(body[4:])
    # type 8 -> 0 lowers the checksum word by 0x0800 (RFC 1624 again)
    assert struct.unpack_from("!H", reply.l4, 2)[0] == rfc1624(
        struct.unpack_from("!H", body, 2)[0], [0x0800], [0x0000]
    )


def test_icmp_error_quotes_the_header_and_eight_bytes() -> None:
    offending = Datagram.parse(KERNEL_SYN)
    error = Datagram.parse(frames.icmp_error("10.1.1.1", offending, 3, frames.CODE_HOST_PROHIBITED))
    assert (error.src, error.dst, error.proto) == ("10.1.1.1", "10.1.1.2", ICMP)
    assert error.l4[:2] == bytes([3, 10])
    assert error.l4[8:] == KERNEL_SYN[:28]
    assert frames.checksum(error.l4) == 0


def test_tcp_reset_acknowledges_the_syn() -> None:
    rst = Datagram.parse(frames.tcp_reset(Datagram.parse(KERNEL_SYN)))
    sport, dport, seq, ack = struct.unpack_from("!HHII", rst.l4)
    assert (rst.src, rst.dst, sport, dport) == ("10.96.0.10", "10.1.1.2", 80, 40001)
    assert (seq, ack, rst.l4[13]) == (0, 0x44AD59BE + 1, 0x14)  # RST|ACK
    pseudo = bytes([10, 96, 0, 10, 10, 1, 1, 2, 0, TCP, 0, len(rst.l4)])
    assert frames.checksum(pseudo + rst.l4) == 0


def test_arp_reply_answers_the_asker() -> None:
    pod, vpp = bytes.fromhex("02fec3b59180"), bytes.fromhex("02fe3c4a6e7f")
    request = frames.Ethernet.parse(frames.arp_request(pod, "10.1.1.2", "10.1.1.1"))
    assert (request.dst, request.ethertype) == (b"\xff" * 6, 0x0806)
    reply = frames.Ethernet.parse(frames.arp_reply(frames.Arp.parse(request.payload), vpp))
    assert (reply.dst, reply.src) == (pod, vpp)
    assert reply.payload == bytes.fromhex(
        "0001080006040002" + "02fe3c4a6e7f" + "0a010101" + "02fec3b59180" + "0a010102"
    )


def test_vxlan_header_is_rfc7348() -> None:
    assert frames.vxlan_header(10) == bytes.fromhex("0800000000000a00")
    vni, inner = frames.parse_vxlan(frames.vxlan_header(10) + b"\0" * 14)
    assert (vni, len(inner)) == (10, 14)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x45\x00", "truncated IPv4 header"),
        (bytes.fromhex("46000014") + b"\0" * 16, "not a well-formed IPv4 header"),  # IHL 6 > len
        (bytes.fromhex("65000014") + b"\0" * 16, "not a well-formed IPv4 header"),  # version 6
        (KERNEL_SYN[:2] + b"\x00\x20" + KERNEL_SYN[4:32], "truncated TCP header \\(12 < 20"),
        (KERNEL_UDP[:2] + b"\x00\x18" + KERNEL_UDP[4:24], "truncated UDP header \\(4 < 8"),
    ],
)
def test_malformed_datagrams_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        Datagram.parse(data)


def test_vxlan_without_the_i_flag_is_refused() -> None:
    with pytest.raises(FrameError, match="without the I flag"):
        frames.parse_vxlan(b"\0" * 22)
