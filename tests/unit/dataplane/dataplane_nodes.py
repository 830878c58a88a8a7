"""Hand-built snapshots shaped like a Contiv node, for the forwarding-model tests.

Node ``n`` (1 or 2): main VRF 0 with the NIC loopback 192.168.16.n/24; pod VRF 1 with the pod
gateway loopback 10.1.n.1/24, three pod TAPs (10.1.n.2, .3, .4, unnumbered to the gateway),
the VXLAN BVI 192.168.30.n/24 in bridge domain 1 with a tunnel to the other node, and the
routes the node renderer installs (pod VRF default -> main VRF, remote pod subnet via the
remote BVI, the pod range dropped). Everything is literal so the tests read like VPP's
``show`` output.
"""

from __future__ import annotations

from contivpp.dataplane.snapshot import (
    AclBinding,
    AclState,
    BridgeDomainState,
    FibEntry,
    FibPath,
    InterfaceState,
    L2FibState,
    NatInterface,
    NatLbLocal,
    NatLbMapping,
    NatPool,
    NatState,
    NatStaticMapping,
    NeighborEntry,
    Snapshot,
)

NIC, BVI, GW, TAP_A, TAP_B, TAP_C, TUNNEL = 1, 2, 3, 4, 5, 6, 7


def bvi_mac(n: int) -> str:
    return f"12:2b:00:00:00:0{n}"


def pod_ip(n: int, pod: str) -> str:
    return f"10.1.{n}.{ {'a': 2, 'b': 3, 'c': 4}[pod] }"


def node(
    n: int,
    *,
    acls: tuple[AclState, ...] = (),
    bindings: tuple[AclBinding, ...] = (),
    nat: NatState | None = None,
    extra_fib: tuple[FibEntry, ...] = (),
) -> Snapshot:
    peer = 2 if n == 1 else 1
    taps = [
        InterfaceState(
            index,
            f"tap-{pod}",
            kind="tap",
            vrf=1,
            mac=f"02:fe:00:00:0{n}:0{index}",
            unnumbered_to=GW,
            host_namespace=f"/var/run/netns/pod-{pod}",
            host_if_name="eth0",
        )
        for index, pod in ((TAP_A, "a"), (TAP_B, "b"), (TAP_C, "c"))
    ]
    interfaces = (
        InterfaceState(NIC, "loopbackNIC", kind="loopback", addresses=(f"192.168.16.{n}/24",)),
        InterfaceState(
            BVI,
            "vxlanBVI",
            kind="loopback",
            vrf=1,
            mac=bvi_mac(n),
            addresses=(f"192.168.30.{n}/24",),
        ),
        InterfaceState(GW, "podGwLoop", kind="loopback", vrf=1, addresses=(f"10.1.{n}.1/24",)),
        *taps,
        InterfaceState(
            TUNNEL,
            f"vxlan{peer}",
            kind="vxlan",
            vxlan_src=f"192.168.16.{n}",
            vxlan_dst=f"192.168.16.{peer}",
            vxlan_vni=10,
        ),
    )
    fib = (
        # main VRF
        FibEntry(0, "0.0.0.0/0", (FibPath("drop"),), "default-route"),
        FibEntry(0, "0.0.0.0/32", (FibPath("drop"),), "special"),
        FibEntry(0, "192.168.16.0/24", (FibPath(sw_if_index=NIC),), "interface"),
        FibEntry(0, f"192.168.16.{n}/32", (FibPath("local", sw_if_index=NIC),), "interface"),
        FibEntry(0, "10.1.0.0/16", (FibPath(table=1),)),
        # pod VRF
        FibEntry(1, "0.0.0.0/0", (FibPath(table=0),)),
        FibEntry(1, "0.0.0.0/32", (FibPath("drop"),), "special"),
        FibEntry(1, "10.1.0.0/16", (FibPath("drop"),)),
        FibEntry(1, f"10.1.{n}.0/24", (FibPath(sw_if_index=GW),), "interface"),
        FibEntry(1, f"10.1.{n}.1/32", (FibPath("local", sw_if_index=GW),), "interface"),
        *(
            FibEntry(1, f"{pod_ip(n, pod)}/32", (FibPath(sw_if_index=i, next_hop=pod_ip(n, pod)),))
            for i, pod in ((TAP_A, "a"), (TAP_B, "b"), (TAP_C, "c"))
        ),
        FibEntry(1, "192.168.30.0/24", (FibPath(sw_if_index=BVI),), "interface"),
        FibEntry(1, f"192.168.30.{n}/32", (FibPath("local", sw_if_index=BVI),), "interface"),
        FibEntry(
            1,
            f"10.1.{peer}.0/24",
            (FibPath(sw_if_index=BVI, next_hop=f"192.168.30.{peer}"),),
        ),
        *extra_fib,
    )
    neighbors = (
        *(
            NeighborEntry(i, pod_ip(n, pod), f"02:fe:00:00:0{n}:a{i}")
            for i, pod in ((TAP_A, "a"), (TAP_B, "b"), (TAP_C, "c"))
        ),
        NeighborEntry(BVI, f"192.168.30.{peer}", bvi_mac(peer)),
    )
    return Snapshot(
        node=f"node{n}",
        interfaces=interfaces,
        fib=fib,
        neighbors=neighbors,
        acls=acls,
        acl_bindings=bindings,
        nat=nat or NatState(),
        bridge_domains=(BridgeDomainState(1, "vxlanBD", members=(BVI, TUNNEL), bvi=BVI),),
        l2fib=(L2FibState(1, bvi_mac(peer), TUNNEL),),
    )


SERVICE_IP = "10.96.0.10"


def lb_service(
    *,
    inside_only: bool = False,
    twice_nat: str = "disabled",
    affinity: int = 0,
    forwarding: bool = True,
    n: int = 1,
) -> NatState:
    """A service 10.96.0.10:80/tcp over pods b and c (port 8080) as an LB static mapping, with
    every pod TAP inside (and outside unless ``inside_only``: the classify path)."""
    return NatState(
        enabled=True,
        forwarding=forwarding,
        interfaces=tuple(
            NatInterface(i, inside=True, outside=not inside_only) for i in (TAP_A, TAP_B, TAP_C)
        ),
        pools=(
            NatPool(f"192.168.16.{n}", f"192.168.16.{n}"),
            NatPool("10.99.0.1", "10.99.0.1", twice_nat=True),
        ),
        lb_mappings=(
            NatLbMapping(
                SERVICE_IP,
                80,
                6,
                (NatLbLocal(pod_ip(n, "b"), 8080, 1, 1), NatLbLocal(pod_ip(n, "c"), 8080, 1, 1)),
                twice_nat=twice_nat,
                out2in_only=True,
                affinity=affinity,
            ),
        ),
    )


def static_service(**kw: object) -> NatStaticMapping:
    fields: dict[str, object] = {
        "local_ip": pod_ip(1, "b"),
        "external_ip": SERVICE_IP,
        "protocol": 6,
        "local_port": 8080,
        "external_port": 80,
        "vrf": 1,
        "out2in_only": True,
    }
    fields.update(kw)
    return NatStaticMapping(**fields)  # type: ignore[arg-type]
