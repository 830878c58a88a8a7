"""Packets per second of the forwarding model (``contivpp.dataplane``), which the services and
policies tests use as their evaluator: its speed bounds how large their matrices can be.

A synthetic Contiv node (built like ``tests/unit/dataplane/dataplane_nodes.py``): N pod TAPs
with their /32 routes and neighbours, every TAP with a reflect ACL on input and a policy ACL of
R rules on output (the permitting rule last, so every packet scans all rules), and an LB
service over two pods on the classify path. Timed: pod -> pod packets through the ACLs, and
pod -> service connections (request + reply through NAT44-ED sessions). No goal; the last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from contivpp.dataplane import TCP, Dataplane, Packet
from contivpp.dataplane.snapshot import (
    AclBinding,
    AclState,
    FibEntry,
    FibPath,
    InterfaceState,
    NatInterface,
    NatLbLocal,
    NatLbMapping,
    NatPool,
    NatState,
    NeighborEntry,
    Snapshot,
)
from contivpp.model.acl import AclRule, PortRange

SERVICE = "10.96.0.10"


def pod_ip(i: int) -> str:
    return f"10.1.{i // 250}.{i % 250 + 2}"


def build(pods: int, rules: int) -> Snapshot:
    first_tap = 10
    taps = [
        InterfaceState(first_tap + i, f"tap-{i}", kind="tap", vrf=1, unnumbered_to=3)
        for i in range(pods)
    ]
    interfaces = (
        InterfaceState(3, "podGwLoop", kind="loopback", vrf=1, addresses=("10.1.0.1/16",)),
        *taps,
    )
    fib = (
        FibEntry(1, "0.0.0.0/0", (FibPath("drop"),), "default-route"),
        FibEntry(1, "0.0.0.0/32", (FibPath("drop"),), "special"),
        FibEntry(1, "10.1.0.0/16", (FibPath(sw_if_index=3),), "interface"),
        *(
            FibEntry(
                1, f"{pod_ip(i)}/32", (FibPath(sw_if_index=first_tap + i, next_hop=pod_ip(i)),)
            )
            for i in range(pods)
        ),
    )
    neighbors = tuple(
        NeighborEntry(first_tap + i, pod_ip(i), f"02:fe:00:00:{i // 256:02x}:{i % 256:02x}")
        for i in range(pods)
    )
    policy = AclState(
        1,
        "policy",
        (
            *(
                AclRule("permit", "10.200.0.0/16", protocol="tcp", dst_ports=PortRange(p, p))
                for p in range(1000, 1000 + rules - 1)
            ),
            AclRule("permit", protocol="tcp"),
        ),
    )
    nat = NatState(
        enabled=True,
        forwarding=True,
        interfaces=tuple(NatInterface(t.sw_if_index, inside=True, outside=True) for t in taps),
        pools=(NatPool("192.168.16.1", "192.168.16.1"),),
        lb_mappings=(
            NatLbMapping(
                SERVICE,
                80,
                6,
                (NatLbLocal(pod_ip(1), 8080, vrf=1), NatLbLocal(pod_ip(2), 8080, vrf=1)),
            ),
        ),
    )
    return Snapshot(
        node="bench",
        interfaces=interfaces,
        fib=fib,
        neighbors=neighbors,
        acls=(AclState(0, "reflect", (AclRule("reflect"),)), policy),
        acl_bindings=tuple(AclBinding(t.sw_if_index, input=(0,), output=(1,)) for t in taps),
        nat=nat,
    )


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for make bench")
    args = parser.parse_args()
    pods, rules, packets = (100, 20, 2_000) if args.quick else (2_000, 100, 20_000)

    started = time.perf_counter()
    snap = build(pods, rules)
    dp = Dataplane(snap)
    dp.send(Packet(pod_ip(0), pod_ip(1), TCP, 1, 80))  # builds the indices once
    setup = time.perf_counter() - started

    started = time.perf_counter()
    for n in range(packets):
        out = dp.send(Packet(pod_ip(n % pods), pod_ip((n * 7 + 1) % pods), TCP, 10_000 + n, 80))
        assert out.result in ("delivered", "dropped")
    pod_to_pod = time.perf_counter() - started

    connections = packets // 4
    started = time.perf_counter()
    for n in range(connections):
        request, reply = dp.connect(Packet(pod_ip(n % pods), SERVICE, TCP, 20_000 + n, 80))
        assert request.delivered and reply is not None
    service = time.perf_counter() - started

    figures = {
        "pods": pods,
        "acl_rules": rules,
        "setup_s": round(setup, 3),
        "pod_to_pod_packets": packets,
        "pod_to_pod_packets_per_s": rate(packets, pod_to_pod),
        "service_connections": connections,
        "service_connections_per_s": rate(connections, service),
    }
    print(
        f"{pods} pods, {rules}-rule ACLs: "
        f"{figures['pod_to_pod_packets_per_s']} packets/s pod to pod, "
        f"{figures['service_connections_per_s']} connections/s to a service"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
