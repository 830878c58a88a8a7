"""CNI CHECK: read a pod's wiring back and say what is missing.

kubelet runs CHECK to learn whether a pod still has its network. Knowing that the pod is in
the agent's state is not enough (someone may have run ``ip -n POD route del default``, or VPP
may be retrying a value), so CHECK looks at both ends of what the pod owns: in the pod's netns,
the TAP's Linux end with its address, the routes and the gateway's ARP entry, each read back
with the same lookups the Linux descriptors use; on the VPP side, the reconciler's status of
every key of the pod's desired part. It runs only for CHECK, never on the ADD path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv4Interface

from pyroute2 import IPRoute

from contivpp.linux.descriptors import LinuxNeighborDescriptor, LinuxRouteDescriptor
from contivpp.linux.netns import NetnsMissing, in_netns
from contivpp.model.linux import LinuxNeighbor, LinuxRoute
from contivpp.model.vpp import Interface, TapLink
from contivpp.reconcile.api import Correlated, Key
from contivpp.reconcile.status import ValueState, ValueStatus

StatusOf = Callable[[Key], ValueStatus]


def _describe(value: object) -> str:
    if isinstance(value, LinuxRoute):
        via = f" via {value.gateway}" if value.gateway else ""
        return f"route {value.dst}{via} dev {value.interface}"
    if isinstance(value, LinuxNeighbor):
        return f"ARP entry {value.ip} lladdr {value.mac} dev {value.interface}"
    return repr(value)


def _tap_missing(link: TapLink, ipr: IPRoute) -> str:
    """What is wrong with the TAP's Linux end, "" when it is there with its address."""
    index = ipr.link_lookup(ifname=link.host_if_name)
    if not index:
        return f"interface {link.host_if_name}"
    if link.host_ip4_prefix:
        want = IPv4Interface(link.host_ip4_prefix)
        for addr in ipr.get_addr(index=index[0], family=2):
            have = f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}"
            if IPv4Interface(have) == want:
                return ""
        return f"address {link.host_ip4_prefix} on {link.host_if_name}"
    return ""


async def missing_in_netns(part: Mapping[Key, object]) -> list[str]:
    """The pod-side values of ``part`` that the pod's netns does not have (read back)."""
    missing: list[str] = []
    for value in part.values():
        if isinstance(value, Interface) and value.tap is not None and value.tap.host_namespace:
            tap = value.tap
            try:
                what = await in_netns(tap.host_namespace, functools.partial(_tap_missing, tap))
            except NetnsMissing:
                return [f"netns {tap.host_namespace}"]
            if what:
                missing.append(f"{what} in netns {tap.host_namespace}")
    for kind, descriptor in (
        (LinuxRoute, LinuxRouteDescriptor()),
        (LinuxNeighbor, LinuxNeighborDescriptor()),
    ):
        wanted = {k: v for k, v in part.items() if isinstance(v, kind)}
        found = await descriptor.retrieve([Correlated(k, v) for k, v in wanted.items()])
        have = {item.key: item.value for item in found}
        for key, value in sorted(wanted.items()):
            if have.get(key) != value:
                netns = getattr(value, "netns", "")
                missing.append(f"{_describe(value)} in netns {netns or 'host'}")
    return missing


def not_configured(part: Mapping[Key, object], status: StatusOf) -> list[str]:
    """The keys of ``part`` the reconciler does not report CONFIGURED, with their state."""
    out: list[str] = []
    for key in sorted(part):
        current = status(key)
        if current.state is not ValueState.CONFIGURED:
            reason = f": {current.error}" if current.error else ""
            out.append(f"{key} is {current.state.value}{reason}")
    return out


async def verify_pod(part: Mapping[Key, object], status: StatusOf) -> Sequence[str]:
    """Everything the pod owns that is not in place: reconciler first, then the pod's netns."""
    return [*not_configured(part, status), *await missing_in_netns(part)]
