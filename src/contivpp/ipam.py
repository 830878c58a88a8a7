"""The address plan: which subnets and addresses a node ID owns, and pod IP allocation.

Pure functions over :class:`~contivpp.config.IPAMConfig`. Node ID N owns the N-th per-node
subnet of the pod and VPP-host ranges and host N of the interconnect and VXLAN ranges, exactly
as Contiv laid it out; IDs that do not fit are refused instead of wrapping (Contiv silently
wrapped ID 2^bits to 0 and overlapped node 0's range).

Pod allocation is round-robin from the last address handed out, so a released address is not
reused straight away (policies keyed on IPs must not hit a new pod with an old pod's address),
and the same pod asking twice gets the same address. The allocator is an immutable value so
the state fold stays pure and replay stays deterministic.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import attrs
import immutables

from contivpp.config import IPAMConfig
from contivpp.errors import IPAMError


def _nth_subnet(base: IPv4Network, prefix_len: int, index: int, what: str) -> IPv4Network:
    count = 1 << (prefix_len - base.prefixlen)
    if not 0 < index < count:
        raise IPAMError(f"node ID {index} does not fit {what} {base} split into /{prefix_len}")
    size = 1 << (32 - prefix_len)
    return IPv4Network((int(base.network_address) + index * size, prefix_len))


def _nth_host(base: IPv4Network, index: int, what: str) -> IPv4Address:
    if not 0 < index < base.num_addresses - 1:
        raise IPAMError(f"node ID {index} has no host address in {what} {base}")
    return base.network_address + index


def node_pod_subnet(cfg: IPAMConfig, node_id: int) -> IPv4Network:
    return _nth_subnet(
        cfg.pod_subnet_cidr, cfg.pod_subnet_one_node_prefix_len, node_id, "podSubnetCIDR"
    )


def pod_gateway(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    """The first host of the node's pod subnet: the gateway loopback in the pod VRF."""
    return node_pod_subnet(cfg, node_id).network_address + 1


def nat_loopback(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    """The last unicast address of the pod subnet, reserved for self-twice-NAT."""
    return node_pod_subnet(cfg, node_id).broadcast_address - 1


def vpp_host_subnet(cfg: IPAMConfig, node_id: int) -> IPv4Network:
    return _nth_subnet(
        cfg.vpp_host_subnet_cidr,
        cfg.vpp_host_subnet_one_node_prefix_len,
        node_id,
        "vppHostSubnetCIDR",
    )


def vpp_host_vpp_ip(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    return vpp_host_subnet(cfg, node_id).network_address + 1


def vpp_host_linux_ip(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    return vpp_host_subnet(cfg, node_id).network_address + 2


def node_interconnect_ip(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    return _nth_host(cfg.node_interconnect_cidr, node_id, "nodeInterconnectCIDR")


def vxlan_ip(cfg: IPAMConfig, node_id: int) -> IPv4Address:
    return _nth_host(cfg.vxlan_cidr, node_id, "vxlanCIDR")


def check_node_id(cfg: IPAMConfig, node_id: int, node_name: str) -> None:
    """Raise :class:`IPAMError` (naming the node) unless ``node_id`` fits every range."""
    try:
        node_pod_subnet(cfg, node_id)
        vpp_host_subnet(cfg, node_id)
        node_interconnect_ip(cfg, node_id)
        vxlan_ip(cfg, node_id)
    except IPAMError as exc:
        raise IPAMError(f"node {node_name}: {exc}") from exc


PodRef = tuple[str, str]
"""(namespace, name) of a pod."""


@attrs.frozen
class PodAllocator:
    """Immutable round-robin pod-address allocator for one node subnet.

    Host indexes run from 2 (after the gateway) to the one before the NAT loopback.
    ``last`` is the index most recently handed out; the next search starts after it.
    """

    subnet: IPv4Network
    last: int = 1
    by_pod: immutables.Map[PodRef, int] = immutables.Map()
    owners: immutables.Map[int, PodRef] = immutables.Map()

    @property
    def first_index(self) -> int:
        return 2

    @property
    def last_index(self) -> int:
        return self.subnet.num_addresses - 3

    @property
    def last_address(self) -> IPv4Address | None:
        """The address handed out (or claimed) last, the position to save; None before any."""
        if self.last < self.first_index:
            return None
        return self.subnet.network_address + self.last

    def address_of(self, pod: PodRef) -> IPv4Address | None:
        index = self.by_pod.get(pod)
        return None if index is None else self.subnet.network_address + index

    def allocate(self, pod: PodRef) -> tuple[PodAllocator, IPv4Address]:
        known = self.by_pod.get(pod)
        if known is not None:
            return self, self.subnet.network_address + known
        span = self.last_index - self.first_index + 1
        for step in range(span):
            index = self.first_index + (self.last - self.first_index + 1 + step) % span
            if index not in self.owners:
                new = attrs.evolve(
                    self,
                    last=index,
                    by_pod=self.by_pod.set(pod, index),
                    owners=self.owners.set(index, pod),
                )
                return new, self.subnet.network_address + index
        raise IPAMError(f"pod subnet {self.subnet} exhausted: {span} addresses in use")

    def claim(self, pod: PodRef, address: IPv4Address) -> PodAllocator:
        """Record an address a pod already holds (restart, persisted allocations)."""
        if address not in self.subnet:
            raise IPAMError(f"{address} of pod {pod[0]}/{pod[1]} is outside {self.subnet}")
        index = int(address) - int(self.subnet.network_address)
        owner = self.owners.get(index)
        if owner is not None and owner != pod:
            raise IPAMError(
                f"{address} claimed by {pod[0]}/{pod[1]} is held by {owner[0]}/{owner[1]}"
            )
        if not self.first_index <= index <= self.last_index:
            raise IPAMError(f"{address} is a reserved address of {self.subnet}")
        return attrs.evolve(
            self,
            last=max(self.last, index),
            by_pod=self.by_pod.set(pod, index),
            owners=self.owners.set(index, pod),
        )

    def resume_after(self, address: IPv4Address) -> PodAllocator:
        """Continue the round robin after ``address`` (the position saved before a restart).

        Unlike :meth:`claim` this may move the position back: after a wrap-around the last
        address handed out is below addresses pods still hold.
        """
        if address not in self.subnet:
            raise IPAMError(f"allocator position {address} is outside {self.subnet}")
        index = int(address) - int(self.subnet.network_address)
        if not self.first_index <= index <= self.last_index:
            raise IPAMError(f"allocator position {address} is a reserved address of {self.subnet}")
        return attrs.evolve(self, last=index)

    def release(self, pod: PodRef) -> PodAllocator:
        index = self.by_pod.get(pod)
        if index is None:
            return self
        return attrs.evolve(self, by_pod=self.by_pod.delete(pod), owners=self.owners.delete(index))
