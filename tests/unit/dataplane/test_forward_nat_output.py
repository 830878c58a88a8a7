"""NAT44-ED's output feature, on a node whose host link is in the main VRF.

VPP behaviour encoded (src/plugins/nat/nat44-ed/nat44_ed_in2out.c, v26.06):
- ``nat44_ed_in2out_fast_path_node_fn_inline`` with ``is_output_feature`` looks sessions up
  with the *receiving* interface's FIB (``lookup.fib_index = rx_fib_index0``).
- Without a session, ``nat44_ed_not_translate_output_feature`` leaves the packet alone when a
  flow keyed by the *sending* interface's FIB matches it (src NAT check), or when it is the
  answer of a session's i2o flow keyed by the *receiving* FIB (dst NAT check); else
  ``slow_path_ed`` source-NATs it to the pool: i2o flow keyed by the receiving FIB, o2i flow
  by the sending one (``s->out2in.fib_index = tx_fib_index``).
- On input, an output-feature interface runs ``nat-pre-out2in``: out2in with that
  interface's FIB (``nat44_ed_out2in.c``), where a session's i2o flow also matches when
  forwarding is on.

So a service whose backend is the host (a host-network pod, reached through the host link
in the main VRF) works with the output feature only if the backend's VRF is the one the
client came from, and then the host's answer, arriving in the main VRF, misses the session.
"""

from __future__ import annotations

import attrs
from dataplane_nodes import TAP_A, TAP_B, TAP_C, node

from contivpp.dataplane import TCP, Dataplane, Packet
from contivpp.dataplane.snapshot import (
    FibEntry,
    FibPath,
    InterfaceState,
    NatInterface,
    NatPool,
    NatState,
    NatStaticMapping,
    NeighborEntry,
    Snapshot,
)

HOST_TAP = 8
POD, NODE_IP, HOST_END, VPP_END, API = (
    "10.1.1.2",
    "10.20.0.11",
    "172.30.1.2",
    "172.30.1.1",
    ("10.96.0.1"),
)


def host_linked(*, backend_vrf: int, output: bool) -> Snapshot:
    """node 1 plus the host link (VRF 0, 172.30.1.1/24) and the API service 10.96.0.1:443
    -> the host's 10.20.0.11:6443 (a host-network pod), the link an output-feature interface
    with the SNAT pool 172.30.1.1 (``output``) or inside and outside."""
    snap = node(
        1,
        extra_fib=(
            FibEntry(0, "172.30.1.0/24", (FibPath(sw_if_index=HOST_TAP),), "interface"),
            FibEntry(
                0, f"{NODE_IP}/32", (FibPath(sw_if_index=HOST_TAP, next_hop=HOST_END),), "api"
            ),
        ),
    )
    link = InterfaceState(HOST_TAP, "tap-vpp2", kind="tap", addresses=(f"{VPP_END}/24",))
    role = NatInterface(HOST_TAP, output=True) if output else NatInterface(HOST_TAP, True, True)
    nat = NatState(
        enabled=True,
        forwarding=True,
        interfaces=(*(NatInterface(i, True, True) for i in (TAP_A, TAP_B, TAP_C)), role),
        pools=(NatPool(VPP_END, VPP_END),) if output else (),
        static_mappings=(
            NatStaticMapping(NODE_IP, API, 6, 6443, 443, vrf=backend_vrf, twice_nat="self"),
        ),
    )
    return attrs.evolve(
        snap,
        interfaces=(*snap.interfaces, link),
        neighbors=(*snap.neighbors, NeighborEntry(HOST_TAP, HOST_END, "02:00:00:00:00:01")),
        nat=nat,
    )


def test_backend_in_the_pod_vrf_passes_the_output_feature_but_its_answer_misses() -> None:
    dp = Dataplane(host_linked(backend_vrf=1, output=True))
    request, reply = dp.connect(Packet(POD, API, TCP, 40000, 443))
    assert (request.interface, request.packet.src, request.packet.dst) == (
        "tap-vpp2",
        POD,
        NODE_IP,
    )
    output = next(h for h in request.hops if h.stage == "nat44-output")
    assert output.reason == "output feature: reply of a session of VRF 1: not translated"
    # The host answers in VRF 0; the session's i2o flow is keyed by VRF 1: untranslated.
    assert reply is not None and reply.interface == "tap-a"
    assert (reply.packet.src, reply.packet.sport) == (NODE_IP, 6443)


def test_backend_in_the_main_vrf_is_source_natted_again_by_the_output_feature() -> None:
    dp = Dataplane(host_linked(backend_vrf=0, output=True))
    request, reply = dp.connect(Packet(POD, API, TCP, 40000, 443))
    assert (request.interface, request.packet.src, request.packet.dst) == (
        "tap-vpp2",
        VPP_END,
        NODE_IP,
    )
    assert reply is not None and reply.interface == "tap-a"
    assert (reply.packet.src, reply.packet.sport) == (NODE_IP, 6443)


def test_backend_in_the_main_vrf_behind_an_inside_outside_link_answers_as_the_service() -> None:
    dp = Dataplane(host_linked(backend_vrf=0, output=False))
    request, reply = dp.connect(Packet(POD, API, TCP, 40000, 443))
    assert (request.interface, request.packet.src, request.packet.dst) == (
        "tap-vpp2",
        POD,
        NODE_IP,
    )
    assert reply is not None and reply.interface == "tap-a"
    assert (reply.packet.src, reply.packet.sport, reply.packet.dst) == (API, 443, POD)


def test_output_feature_snat_keys_its_flows_by_receiving_and_sending_vrf() -> None:
    dp = Dataplane(host_linked(backend_vrf=1, output=True))
    request, reply = dp.connect(Packet(POD, NODE_IP, TCP, 40000, 10250))
    assert (request.interface, request.packet.src, request.packet.sport) == (
        "tap-vpp2",
        VPP_END,
        40000,
    )
    # The answer enters the link (VRF 0): the o2i flow is keyed by the sending VRF (0).
    assert reply is not None and reply.interface == "tap-a"
    assert (reply.packet.src, reply.packet.dst, reply.packet.dport) == (NODE_IP, POD, 40000)
