"""Packets per second through the simulator's forwarder (a test dataplane: no goal).

A whole node runs (etcd, ``contivpp vppsim --linux-taps``, the agent) with two pods wired by
``contivpp-cni``. A sender in pod A's netns sends UDP datagrams to pod B as fast as it can for
a few seconds; a sink in pod B counts what arrives. Every datagram is one frame read from A's
tap, one evaluation of the forwarding model, one frame written to B's tap. Also: UDP
request/response round trips (each two model evaluations, one ACL-free path). Needs root.
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from contivpp.demo import cni, local_node

SINK = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("0.0.0.0", 9000))
s.settimeout(float(sys.argv[1]))
print("ready", flush=True)
count, first, last = 0, None, None
try:
    while True:
        data, peer = s.recvfrom(2048)
        if data == b"echo":
            s.sendto(b"echo", peer)
            continue
        now = time.monotonic()
        first = first or now
        last = now
        count += 1
except socket.timeout:
    pass
print(count, (last - first) if first and last else 0.0, flush=True)
"""

SENDER = r"""
import socket, sys, time
host, seconds, rtts = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
samples = []
for _ in range(rtts):
    start = time.monotonic()
    s.sendto(b"echo", (host, 9000))
    s.recvfrom(100)
    samples.append(time.monotonic() - start)
payload = b"x" * 64
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(32):
        s.sendto(payload, (host, 9000))
    sent += 32
    time.sleep(0.0005)  # the tap queue is 500 frames deep: don't only measure drops
samples.sort()
print(sent, samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1], flush=True)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rtts", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="1 s and 50 round trips (make bench)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rtts = 1.0, 50
    if os.geteuid() != 0:
        print("needs root (network namespaces and taps)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-fwd-"))
    namespaces = {"a": "bench-fwd-a", "b": "bench-fwd-b"}
    try:
        with local_node(work) as node:
            ips = {}
            for pod, ns in namespaces.items():
                subprocess.run(["ip", "netns", "add", ns], check=True)
                result = cni("ADD", node.cni_socket, pod, f"/var/run/netns/{ns}")
                ips[pod] = str(result["ips"][0]["address"]).split("/")[0]  # type: ignore[index]
            sink = subprocess.Popen(
                ["ip", "netns", "exec", namespaces["b"], sys.executable, "-c", SINK, "2"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
            sender = subprocess.run(
                ["ip", "netns", "exec", namespaces["a"], sys.executable, "-c", SENDER,
                 ips["b"], str(args.seconds), str(args.rtts)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            received, span = sink.communicate(timeout=30)[0].split()
            sent, rtt_p50, rtt_p99 = sender.stdout.split()
            figures = {
                "udp_sent": int(sent),
                "udp_received": int(received),
                "received_pps": round(int(received) / float(span)) if float(span) else 0,
                "udp_rtt_p50_ms": round(float(rtt_p50) * 1000, 3),
                "udp_rtt_p99_ms": round(float(rtt_p99) * 1000, 3),
            }
            for pod, ns in namespaces.items():
                cni("DEL", node.cni_socket, pod, f"/var/run/netns/{ns}")
    finally:
        for ns in namespaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"UDP 64-byte datagrams pod A -> pod B for {args.seconds}s: "
          f"{figures['udp_received']}/{figures['udp_sent']} received, "
          f"{figures['received_pps']} packets/s")  # fmt: skip
    print(f"UDP request/response RTT: p50 {figures['udp_rtt_p50_ms']} ms, "
          f"p99 {figures['udp_rtt_p99_ms']} ms")  # fmt: skip
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
