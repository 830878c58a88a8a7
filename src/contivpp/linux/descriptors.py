"""Reconciler descriptors for the Linux side: routes and static ARP entries in a netns.

The pod's ``eth0`` itself is the Linux end of the VPP TAP (VPP creates it in the pod netns), so
only routes and neighbours are configured here, through netlink (pyroute2, see ``netns.py``
for how a namespace is entered). A netns that has vanished means the pod is gone: creating
into it fails for good (not retried, unlike vpp-agent, whose values for killed pods kept
retrying), and deleting from it succeeds.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network
from typing import TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from contivpp.errors import ContivError
from contivpp.linux.netns import NetnsMissing, in_netns
from contivpp.model import keys
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.reconcile.api import Correlated, Dependency, Descriptor, Key, Retrieved

NUD_PERMANENT = 0x80
SCOPE_LINK = 253
MAIN_TABLE = 254
AF_INET = 2


class LinuxError(ContivError):
    """A netlink operation failed; ``retriable`` is False when the netns is gone."""

    def __init__(self, message: str, *, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable


class NetnsGone(LinuxError):
    def __init__(self, netns: str) -> None:
        super().__init__(f"network namespace {netns} does not exist", retriable=False)


def _ifindex(ipr: IPRoute, netns: str, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LinuxError(f"interface {name} not found in netns {netns or 'host'}")
    return int(found[0])


def _after(values: tuple[str, ...]) -> Sequence[Dependency]:
    return [Dependency(label=f"after:{k}", key=Key(k)) for k in values]


def _gone(exc: NetlinkError) -> bool:
    return exc.code in (errno.ESRCH, errno.ENOENT, errno.ENODEV)


async def _create_in(netns: str, work: Callable[[IPRoute], None]) -> None:
    try:
        await in_netns(netns, work)
    except NetnsMissing as exc:
        raise NetnsGone(netns) from exc


async def _delete_in(netns: str, work: Callable[[IPRoute], None]) -> None:
    try:
        await in_netns(netns, work)
    except NetnsMissing:
        return  # the pod and everything in its netns is gone already


V = TypeVar("V", LinuxRoute, LinuxNeighbor)


async def _retrieve(
    correlate: Sequence[Correlated], kind: type[V], lookup: Callable[[V, IPRoute], V | None]
) -> Sequence[Retrieved]:
    """Look up exactly the values we believe exist (never scan foreign namespaces)."""
    found: list[Retrieved] = []
    for item in correlate:
        want = item.value
        assert isinstance(want, kind)
        try:
            actual = await in_netns(want.netns, functools.partial(lookup, want))
        except NetnsMissing:
            continue
        if actual is not None:
            found.append(Retrieved(item.key, actual))
    return found


class LinuxRouteDescriptor(Descriptor[LinuxRoute, None]):
    name = "linux-route"
    key_prefix = keys.LINUX_ROUTE_PREFIX
    supports_retrieve = True

    def dependencies(self, key: Key, value: LinuxRoute) -> Sequence[Dependency]:
        return _after(value.after)

    async def create(self, key: Key, value: LinuxRoute) -> None:
        def work(ipr: IPRoute) -> None:
            index = _ifindex(ipr, value.netns, value.interface)
            kwargs: dict[str, object] = {"dst": value.dst, "oif": index}
            if value.gateway:
                kwargs["gateway"] = value.gateway
            else:
                kwargs["scope"] = SCOPE_LINK
            try:
                ipr.route("replace", **kwargs)
            except NetlinkError as exc:
                raise LinuxError(f"route {value.dst} in {value.netns or 'host'}: {exc}") from exc

        await _create_in(value.netns, work)

    async def delete(self, key: Key, value: LinuxRoute, metadata: None) -> None:
        def work(ipr: IPRoute) -> None:
            kwargs: dict[str, object] = {"dst": value.dst}
            if value.gateway:
                kwargs["gateway"] = value.gateway
            try:
                ipr.route("del", **kwargs)
            except NetlinkError as exc:
                if not _gone(exc):
                    raise LinuxError(f"deleting route {value.dst}: {exc}") from exc

        await _delete_in(value.netns, work)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        """Look up exactly the routes we believe exist (never scan foreign namespaces)."""
        return await _retrieve(correlate, LinuxRoute, _lookup_route)


def _lookup_route(want: LinuxRoute, ipr: IPRoute) -> LinuxRoute | None:
    net = IPv4Network(want.dst)
    names = {link["index"]: link.get("ifname") for link in ipr.get_links()}
    for route in ipr.get_routes(family=AF_INET, table=MAIN_TABLE):
        if route.get("dst_len") != net.prefixlen:
            continue
        if (route.get("dst") or "0.0.0.0") != str(net.network_address):
            continue
        return LinuxRoute(
            netns=want.netns,
            interface=str(names.get(route.get("oif"), "")),
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
        def work(ipr: IPRoute) -> None:
            index = _ifindex(ipr, value.netns, value.interface)
            try:
                ipr.neigh(
                    "replace", dst=value.ip, lladdr=value.mac, ifindex=index, state=NUD_PERMANENT
                )
            except NetlinkError as exc:
                raise LinuxError(f"ARP {value.ip} in {value.netns or 'host'}: {exc}") from exc

        await _create_in(value.netns, work)

    async def delete(self, key: Key, value: LinuxNeighbor, metadata: None) -> None:
        def work(ipr: IPRoute) -> None:
            found = ipr.link_lookup(ifname=value.interface)
            if not found:
                return
            try:
                ipr.neigh("del", dst=value.ip, ifindex=found[0])
            except NetlinkError as exc:
                if not _gone(exc):
                    raise LinuxError(f"deleting ARP {value.ip}: {exc}") from exc

        await _delete_in(value.netns, work)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        return await _retrieve(correlate, LinuxNeighbor, _lookup_neighbor)


def _lookup_neighbor(want: LinuxNeighbor, ipr: IPRoute) -> LinuxNeighbor | None:
    index = ipr.link_lookup(ifname=want.interface)
    if not index:
        return None
    for entry in ipr.get_neighbours(family=AF_INET, ifindex=index[0]):
        if entry.get("dst") == want.ip and entry.get("state") == NUD_PERMANENT:
            mac = str(entry.get("lladdr") or "")
            return LinuxNeighbor(want.netns, want.interface, want.ip, mac, want.after)
    return None
