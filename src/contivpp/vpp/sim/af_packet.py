"""Simulated host-interfaces (VPP's af_packet plugin): ``af_packet_create*``, delete, dump.

A host-interface is VPP's view of an existing Linux interface through an AF_PACKET socket; it
is named ``host-<ifname>`` (``format_af_packet_device_name``). Semantics follow VPP v26.06
``src/plugins/af_packet/af_packet_api.c`` and ``af_packet.c``:

- one host-interface per Linux name: a second create answers IF_ALREADY_EXISTS (-79) with
  the existing sw_if_index;
- the Linux interface must exist (SIOCGIFINDEX fails: INVALID_INTERFACE, -71) and is set up;
- an unknown ``mode`` in v3 is INVALID_VALUE (-7) with sw_if_index ~0;
- ethernet mode gets ``hw_addr`` or a random ``02:fe:xx:xx:xx:xx``; IP mode has no MAC;
- the hardware link is up from creation, the interface admin down;
- delete by Linux name; an unknown name is SYSCALL_ERROR_1 (-11).

With ``--linux-taps`` the Linux side is real (:meth:`LinuxTaps.open_packet`); without, it is
only recorded, as taps are.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs
import structlog

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.linux import HostError
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, Fields

if TYPE_CHECKING:
    from contivpp.vpp.sim.state import SimState

log = structlog.get_logger(__name__)

handlers = HandlerTable()

MODE_ETHERNET = 1  # AF_PACKET_API_MODE_ETHERNET
MODE_IP = 2  # AF_PACKET_API_MODE_IP
#: af_packet_create / _v2 use these flags (QDISC_BYPASS | CKSUM_GSO).
DEFAULT_FLAGS = 1 | 2
DEV_TYPE = "af-packet"
#: The v1/v2 handlers pass the name through format ("%s"): at most 63 bytes and a NUL.
NAME_FIELD = 64


@attrs.define
class AfPacket:
    sw_if_index: int
    host_if_name: str
    mode: int
    flags: int
    num_rx_queues: int
    num_tx_queues: int

    def snapshot(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _random_mac(state: SimState) -> bytes:
    # af_packet.c: hw_addr[0] = 2, hw_addr[1] = 0xfe, then four random bytes.
    return bytes([0x02, 0xFE]) + struct.pack("<I", state.rng.getrandbits(32))


def _create(call: Call, mode: int, flags: int, rxq: int, txq: int) -> Fields:
    state, req = call.state, call.req
    name = req.s("host_if_name")
    ifs = state.interfaces
    existing = next((a for a in ifs.af_packets.values() if a.host_if_name == name), None)
    if existing is not None:
        raise SimError(rv.IF_ALREADY_EXISTS, sw_if_index=existing.sw_if_index)
    if not name:
        raise SimError(rv.INVALID_INTERFACE, sw_if_index=0)  # SIOCGIFINDEX of ""
    mtu = 0
    if state.linux is not None:
        try:
            mtu = state.linux.open_packet(name)
        except HostError as exc:
            log.warning("vppsim_af_packet_host_failed", host_if_name=name, error=str(exc))
            raise SimError(exc.retval, sw_if_index=0) from exc  # arg was memset to 0
    ethernet = mode == MODE_ETHERNET
    if not ethernet:
        mac = b"\0" * 6
    elif req.b("use_random_hw_addr"):
        mac = _random_mac(state)
    else:
        mac = req.raw("hw_addr")
    itf = state.create_interface(
        name=f"host-{name}", dev_type=DEV_TYPE, mac=mac, ethernet=ethernet, link_up=True
    )
    if mtu:
        itf.link_mtu, itf.mtu = mtu, [mtu, 0, 0, 0]
    ifs.af_packets[itf.sw_if_index] = AfPacket(itf.sw_if_index, name, mode, flags, rxq, txq)
    return {"sw_if_index": itf.sw_if_index}


@handlers.request("af_packet_create", "af_packet_create_v2")
def af_packet_create(call: Call) -> Fields:
    rxq = call.req.u("num_rx_queues") if call.req.has("num_rx_queues") else 1
    return _create(call, MODE_ETHERNET, DEFAULT_FLAGS, max(rxq, 1), 1)


@handlers.request("af_packet_create_v3")
def af_packet_create_v3(call: Call) -> Fields:
    req = call.req
    mode = req.u("mode")
    if mode not in (MODE_ETHERNET, MODE_IP):
        raise SimError(rv.INVALID_VALUE, sw_if_index=NO_INDEX)
    rxq, txq = req.u("num_rx_queues"), req.u("num_tx_queues")
    return _create(call, mode, req.u("flags"), max(rxq, 1), max(txq, 1))


@handlers.request("af_packet_delete")
def af_packet_delete(call: Call) -> Fields:
    state = call.state
    name = call.req.s("host_if_name")
    found = next((a for a in state.interfaces.af_packets.values() if a.host_if_name == name), None)
    if found is None:
        raise SimError(rv.SYSCALL_ERROR_1)
    itf = state.interfaces.require(found.sw_if_index)
    # "bring down the interface": the hardware link goes down, then the interface goes.
    itf.link_up = False
    state.delete_interface(found.sw_if_index)
    del state.interfaces.af_packets[found.sw_if_index]
    if state.linux is not None:
        state.linux.close_packet(name)
    return {}


@handlers.dump("af_packet_dump")
def af_packet_dump(call: Call) -> Iterable[Fields]:
    packets = call.state.interfaces.af_packets
    for sw_if_index in sorted(packets):
        yield {"sw_if_index": sw_if_index, "host_if_name": packets[sw_if_index].host_if_name}
