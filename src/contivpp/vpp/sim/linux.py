"""Real Linux taps for the simulator's ``tap_create_*`` and AF_PACKET sockets for its
``af_packet_create_*`` (``--linux-taps``).

With this enabled the simulator's taps exist on the host the way VPP's do, so the CNI plugin and
the integration tests can see the host end, move it into a pod namespace and address it. Like
VPP's tapv2 driver, a tap is opened on ``/dev/net/tun`` and the file descriptor is kept: when the
simulator exits (or crashes) the kernel removes every non-persistent tap, exactly as it does when
VPP dies. Host-side configuration uses pyroute2 (netlink), mapped to VPP's error codes.

A host-interface (``host-<ifname>``) binds a raw AF_PACKET socket to an existing Linux interface
of the simulator's own network namespace (VPP's af_packet plugin has no namespace option
either), bringing the Linux interface up first as ``af_packet_create_if`` does. The socket
ignores the frames the simulator itself sends (``PACKET_IGNORE_OUTGOING``).
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import ipaddress
import os
import socket
import struct
from pathlib import Path
from typing import Protocol

import attrs
import structlog
from pyroute2 import IPRoute

from contivpp.linux.netns import NetnsMissing, call_in_netns
from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.wire import mac_str

log = structlog.get_logger(__name__)

NETNS_DIR = Path("/var/run/netns")

# linux/if_tun.h
_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_IFF_TUN = 0x0001
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFREQ = struct.Struct("16sH")
# linux/if_ether.h, linux/if_packet.h
_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_IGNORE_OUTGOING = 23


class HostError(Exception):
    """A host-side failure, carrying the retval VPP reports for it."""

    def __init__(self, retval: int, message: str) -> None:
        super().__init__(message)
        self.retval = retval


@attrs.frozen
class TapSpec:
    """The host end of one tap, as requested in ``tap_create_*``."""

    name: str
    netns: str = ""
    mac: bytes = b""
    mtu: int = 0
    ip4: ipaddress.IPv4Interface | None = None
    ip6: ipaddress.IPv6Interface | None = None
    gw4: ipaddress.IPv4Address | None = None
    gw6: ipaddress.IPv6Address | None = None
    bridge: str = ""
    tun: bool = False
    persist: bool = False


@attrs.define
class _OpenTap:
    spec: TapSpec
    fd: int


class TapListener(Protocol):
    """Told when a tap's descriptor opens and before it closes (the forwarder reads them)."""

    def tap_opened(self, netns: str, name: str, fd: int) -> None: ...

    def tap_closing(self, netns: str, name: str, fd: int) -> None: ...


@attrs.define
class LinuxTaps:
    """The host taps the simulator holds open, by host interface name."""

    #: By (netns, host interface name): every pod's tap is "eth0", each in its own netns.
    taps: dict[tuple[str, str], _OpenTap] = attrs.field(factory=dict)
    #: AF_PACKET sockets of host-interfaces, by Linux interface name (our own netns, "").
    packets: dict[str, socket.socket] = attrs.field(factory=dict)
    listener: TapListener | None = None
    # pyroute2 0.9's blocking API drives an asyncio loop of its own and refuses to run inside
    # the simulator's running loop, so netlink work happens on this one worker thread (the
    # handler waits for it, as VPP's main thread waits for netlink).
    _netlink: concurrent.futures.ThreadPoolExecutor = attrs.field(
        factory=lambda: concurrent.futures.ThreadPoolExecutor(1, "vppsim-netlink")
    )

    def create(self, spec: TapSpec) -> None:
        if spec.netns and not (NETNS_DIR / spec.netns).exists():
            # tap.c: opening the namespace fails -> SYSCALL_ERROR_2.
            raise HostError(rv.SYSCALL_ERROR_2, f"network namespace {spec.netns!r} not found")
        # The tap is created from inside its namespace (this worker thread enters it with
        # setns), so its final name may exist in ours and no netns move (slow: the kernel
        # waits for an RCU grace period) is needed.
        fd = self._netlink.submit(self._create_in_netns, spec).result()
        self.taps[(spec.netns, spec.name)] = _OpenTap(spec, fd)
        if self.listener is not None:
            self.listener.tap_opened(spec.netns, spec.name, fd)
        log.info("vppsim_tap_host_created", host_if_name=spec.name, netns=spec.netns)

    def delete(self, netns: str, name: str) -> None:
        tap = self.taps.pop((netns, name), None)
        if tap is None:
            return
        if self.listener is not None:
            self.listener.tap_closing(netns, name, tap.fd)
        if tap.spec.persist:
            self._unpersist(tap.fd)
        # Closing the last descriptor makes the kernel delete a non-persistent tap.
        os.close(tap.fd)
        log.info("vppsim_tap_host_deleted", host_if_name=name)

    def fd_of(self, netns: str, name: str) -> int | None:
        """The descriptor frames for the Linux interface ``name`` in ``netns`` are written to:
        a tap's, or a host-interface's packet socket (those are in our netns only)."""
        tap = self.taps.get((netns, name))
        if tap is not None:
            return tap.fd
        sock = self.packets.get(name) if not netns else None
        return sock.fileno() if sock is not None else None

    def open_packet(self, name: str) -> int:
        """``af_packet_create_if``'s host side: the Linux interface must exist (else
        INVALID_INTERFACE), is set up, and gets a raw socket bound to it. Its MTU
        (``af_packet_read_mtu``: the host-interface's MTU is the Linux one)."""
        try:
            index = socket.if_nametoindex(name)
        except OSError as exc:
            raise HostError(rv.INVALID_INTERFACE, f"host interface {name!r}: {exc}") from exc
        mtu = self._netlink.submit(self._set_up, index, name).result()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        try:
            sock.setsockopt(_SOL_PACKET, _PACKET_IGNORE_OUTGOING, 1)
            sock.bind((name, _ETH_P_ALL))
        except OSError as exc:
            sock.close()
            raise HostError(rv.SYSCALL_ERROR_1, f"AF_PACKET socket on {name}: {exc}") from exc
        self.packets[name] = sock
        if self.listener is not None:
            self.listener.tap_opened("", name, sock.fileno())
        log.info("vppsim_af_packet_opened", host_if_name=name, mtu=mtu)
        return mtu

    def close_packet(self, name: str) -> None:
        sock = self.packets.pop(name, None)
        if sock is None:
            return
        if self.listener is not None:
            self.listener.tap_closing("", name, sock.fileno())
        sock.close()
        log.info("vppsim_af_packet_closed", host_if_name=name)

    @staticmethod
    def _set_up(index: int, name: str) -> int:
        try:
            with IPRoute() as ipr:
                ipr.link("set", index=index, state="up")
                return int(ipr.get_links(index)[0].get_attr("IFLA_MTU"))
        except Exception as exc:  # pyroute2 raises NetlinkError, OSError ...
            raise HostError(rv.SYSCALL_ERROR_1, f"setting {name} up: {exc}") from exc

    def close(self) -> None:
        """Release every tap and packet socket, like VPP exiting (persistent taps survive)."""
        for (netns, name), tap in list(self.taps.items()):
            if self.listener is not None:
                self.listener.tap_closing(netns, name, tap.fd)
            os.close(tap.fd)
        self.taps.clear()
        for name in list(self.packets):
            self.close_packet(name)
        self._netlink.shutdown(wait=True)

    @staticmethod
    def _open(spec: TapSpec, kernel_name: str) -> int:
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise HostError(rv.SYSCALL_ERROR_2, f"open /dev/net/tun: {exc}") from exc
        mode = (_IFF_TUN if spec.tun else _IFF_TAP) | _IFF_NO_PI
        try:
            fcntl.ioctl(fd, _TUNSETIFF, _IFREQ.pack(kernel_name.encode(), mode))
            if spec.persist:
                fcntl.ioctl(fd, _TUNSETPERSIST, 1)
        except OSError as exc:
            os.close(fd)
            raise HostError(rv.SYSCALL_ERROR_2, f"TUNSETIFF {spec.name}: {exc}") from exc
        return fd

    @staticmethod
    def _unpersist(fd: int) -> None:
        try:
            fcntl.ioctl(fd, _TUNSETPERSIST, 0)
        except OSError as exc:
            log.warning("vppsim_tap_unpersist_failed", error=str(exc))

    @classmethod
    def _create_in_netns(cls, spec: TapSpec) -> int:
        netns = str(NETNS_DIR / spec.netns) if spec.netns else ""

        def create(ipr: IPRoute) -> int:
            fd = cls._open(spec, spec.name)
            try:
                cls._configure(ipr, spec)
            except Exception:
                os.close(fd)
                raise
            return fd

        try:
            return call_in_netns(netns, create)
        except NetnsMissing as exc:
            raise HostError(rv.SYSCALL_ERROR_2, f"network namespace {spec.netns!r}: {exc}") from exc

    @staticmethod
    def _configure(ipr: IPRoute, spec: TapSpec) -> None:
        try:
            (index,) = ipr.link_lookup(ifname=spec.name)
            settings: dict[str, object] = {"state": "up"}
            if spec.mac and not spec.tun:
                settings["address"] = mac_str(spec.mac)
            if spec.mtu:
                settings["mtu"] = spec.mtu
            ipr.link("set", index=index, **settings)
            if spec.bridge:
                (master,) = ipr.link_lookup(ifname=spec.bridge)
                ipr.link("set", index=index, master=master)
            for addr in (spec.ip4, spec.ip6):
                if addr is not None:
                    ipr.addr(
                        "add", index=index, address=str(addr.ip), prefixlen=addr.network.prefixlen
                    )
            if spec.gw4 is not None:
                ipr.route("add", dst="0.0.0.0/0", gateway=str(spec.gw4), oif=index)
            if spec.gw6 is not None:
                ipr.route("add", dst="::/0", gateway=str(spec.gw6), oif=index)
        except Exception as exc:  # pyroute2 raises NetlinkError, ValueError, OSError ...
            raise HostError(rv.NETLINK_ERROR, f"configuring {spec.name}: {exc}") from exc
