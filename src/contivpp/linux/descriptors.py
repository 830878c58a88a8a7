"""Reconciler descriptors for the Linux side: routes and static ARP entries in a netns.

The pod's ``eth0`` itself is the Linux end of the VPP TAP (VPP creates it in the pod netns), so
only routes and neighbours are configured here, through netlink (pyroute2). A netns that has
vanished means the pod is gone: creating into it fails for good (not retried, unlike
vpp-agent, whose values for killed pods kept retrying), and deleting from it succeeds.
"""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Network

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from contivpp.errors import ContivError
from contivpp.model import keys
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.reconcile.api import Correlated, Dependency, Descriptor, Key, Retrieved

NUD_PERMANENT = 0x80
SCOPE_LINK = 253
MAIN_TABLE = 254


class LinuxError(ContivError):
    """A netlink operation failed; ``retriable`` is False when the netns is gone."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class NetnsGone(LinuxError):
    def __init__(self, netns: str) -> None:
        super().__init__(f"network namespace {netns} does not exist", retriable=False)


def _exists(path: str) -> bool:
    return os.path.exists(path)  # a stat of a bind mount: cheap, fine on the event loop


@asynccontextmanager
async def netlink(netns: str) -> AsyncIterator[AsyncIPRoute]:
    """An rtnetlink socket in ``netns`` ("" = ours). Never creates a missing netns."""
    if netns and not _exists(netns):
        raise NetnsGone(netns)
    kwargs = {"netns": netns, "flags": 0} if netns else {}
    try:
        ipr = AsyncIPRoute(**kwargs)
    except FileNotFoundError as exc:
        raise NetnsGone(netns) from exc
    async with ipr:
        yield ipr


async def _ifindex(ipr: AsyncIPRoute, netns: str, name: str) -> int:
    found = await ipr.link_lookup(ifname=name)
    if not found:
        raise LinuxError(f"interface {name} not found in netns {netns or 'host'}")
    return int(found[0])


def _after(values: tuple[str, ...]) -> Sequence[Dependency]:
    return [Dependency(label=f"after:{k}", key=Key(k)) for k in values]


def _gone(exc: NetlinkError) -> bool:
    return exc.code in (errno.ESRCH, errno.ENOENT, errno.ENODEV)


class LinuxRouteDescriptor(Descriptor[LinuxRoute, None]):
    name = "linux-route"
    key_prefix = keys.LINUX_ROUTE_PREFIX
    supports_retrieve = True

    def dependencies(self, key: Key, value: LinuxRoute) -> Sequence[Dependency]:
        return _after(value.after)

    async def create(self, key: Key, value: LinuxRoute) -> None:
        async with netlink(value.netns) as ipr:
            index = await _ifindex(ipr, value.netns, value.interface)
            kwargs: dict[str, object] = {"dst": value.dst, "oif": index}
            if value.gateway:
                kwargs["gateway"] = value.gateway
            else:
                kwargs["scope"] = SCOPE_LINK
            try:
                await ipr.route("replace", **kwargs)
            except NetlinkError as exc:
                raise LinuxError(f"route {value.dst} in {value.netns or 'host'}: {exc}") from exc

    async def delete(self, key: Key, value: LinuxRoute, metadata: None) -> None:
        try:
            async with netlink(value.netns) as ipr:
                kwargs: dict[str, object] = {"dst": value.dst}
                if value.gateway:
                    kwargs["gateway"] = value.gateway
                await ipr.route("del", **kwargs)
        except NetnsGone:
            return
        except NetlinkError as exc:
            if not _gone(exc):
                raise LinuxError(f"deleting route {value.dst}: {exc}") from exc

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        """Look up exactly the routes we believe exist (never scan foreign namespaces)."""
        found: list[Retrieved] = []
        for item in correlate:
            want = item.value
            assert isinstance(want, LinuxRoute)
            try:
                async with netlink(want.netns) as ipr:
                    actual = await self._lookup(ipr, want)
            except NetnsGone:
                continue
            if actual is not None:
                found.append(Retrieved(item.key, actual))
        return found

    async def _lookup(self, ipr: AsyncIPRoute, want: LinuxRoute) -> LinuxRoute | None:
        net = IPv4Network(want.dst)
        names = {link["index"]: link.get("ifname") async for link in await ipr.link("dump")}
        async for route in await ipr.route("dump", family=2, table=MAIN_TABLE):
            if route.get("dst_len") != net.prefixlen:
                continue
            dst = route.get("dst") or "0.0.0.0"
            if dst != str(net.network_address):
                continue
            ifname = names.get(route.get("oif"), "")
            return LinuxRoute(
                netns=want.netns,
                interface=str(ifname),
                dst=want.dst,
                gateway=str(route.get("gateway") or ""),
                after=want.after,
            )
        return None


class LinuxNeighborDescriptor(Descriptor[LinuxNeighbor, None]):
    name = "linux-arp"
    key_prefix = keys.LINUX_NEIGHBOR_PREFIX
    supports_retrieve = True

    def dependencies(self, key: Key, value: LinuxNeighbor) -> Sequence[Dependency]:
        return _after(value.after)

    async def create(self, key: Key, value: LinuxNeighbor) -> None:
        async with netlink(value.netns) as ipr:
            index = await _ifindex(ipr, value.netns, value.interface)
            try:
                await ipr.neigh(
                    "replace", dst=value.ip, lladdr=value.mac, ifindex=index, state=NUD_PERMANENT
                )
            except NetlinkError as exc:
                raise LinuxError(f"ARP {value.ip} in {value.netns or 'host'}: {exc}") from exc

    async def delete(self, key: Key, value: LinuxNeighbor, metadata: None) -> None:
        try:
            async with netlink(value.netns) as ipr:
                found = await ipr.link_lookup(ifname=value.interface)
                if found:
                    await ipr.neigh("del", dst=value.ip, ifindex=found[0])
        except NetnsGone:
            return
        except NetlinkError as exc:
            if not _gone(exc):
                raise LinuxError(f"deleting ARP {value.ip}: {exc}") from exc

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        found: list[Retrieved] = []
        for item in correlate:
            want = item.value
            assert isinstance(want, LinuxNeighbor)
            try:
                async with netlink(want.netns) as ipr:
                    index = await ipr.link_lookup(ifname=want.interface)
                    if not index:
                        continue
                    async for entry in await ipr.neigh("dump", ifindex=index[0], family=2):
                        if entry.get("dst") == want.ip and entry.get("state") == NUD_PERMANENT:
                            mac = str(entry.get("lladdr") or "")
                            found.append(
                                Retrieved(
                                    item.key,
                                    LinuxNeighbor(
                                        want.netns, want.interface, want.ip, mac, want.after
                                    ),
                                )
                            )
                            break
            except NetnsGone:
                continue
        return found
