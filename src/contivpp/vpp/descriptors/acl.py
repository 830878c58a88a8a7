"""ACLs by name, and the name <-> acl_index map the interface bindings resolve names in.

VPP picks an ACL's index; the value's name is stored as its tag, which is how a resync finds
ACLs again after the agent restarted, and the index is this descriptor's metadata. Rules are
replaced in place (``acl_add_replace`` on the same index), so an ACL is never recreated and its
interface bindings stay valid. Two rule lists are equivalent when they encode to the same VPP
rules, so "" and "0.0.0.0/0" (any address) compare equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from contivpp.errors import VPPError
from contivpp.model import keys
from contivpp.model.acl import Acl, AclAction, AclProtocolName, AclRule, PortRange
from contivpp.reconcile.api import Correlated, Key, Retrieved
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.base import (
    NO_INDEX,
    VppDescriptor,
    check_cidr,
    check_name,
    check_range,
    invalid,
)

_ACTIONS: dict[AclAction, int] = {"deny": 0, "permit": 1, "reflect": 2}
_ACTION_NAMES: dict[int, AclAction] = {number: name for name, number in _ACTIONS.items()}
_PROTOCOLS: dict[AclProtocolName, int] = {"any": 0, "icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}
_PROTOCOL_NAMES = {number: name for name, number in _PROTOCOLS.items()}
_ANY = {False: "0.0.0.0/0", True: "::/0"}


class AclIndex:
    """ACL name <-> acl_index in the VPP the client talks to (forgotten when VPP restarts)."""

    def __init__(self, client: VPPClient) -> None:
        self._client = client
        self._generation = client.generation
        self._by_name: dict[str, int] = {}

    def _current(self) -> dict[str, int]:
        if self._client.generation != self._generation:
            self._generation = self._client.generation
            self._by_name.clear()
        return self._by_name

    def put(self, name: str, acl_index: int) -> None:
        self._current()[name] = acl_index

    def remove(self, name: str) -> None:
        self._current().pop(name, None)

    def lookup(self, name: str) -> int | None:
        return self._current().get(name)

    def require(self, name: str) -> int:
        index = self._current().get(name)
        if index is None:
            raise VPPError(f"ACL {name!r} does not exist in VPP")
        return index

    def name_of(self, acl_index: int) -> str | None:
        return next((n for n, i in self._current().items() if i == acl_index), None)

    def rebuild(self, pairs: Iterable[tuple[str, int]]) -> None:
        current = self._current()
        current.clear()
        for name, index in pairs:
            current.setdefault(name, index)


def encode_rule(rule: AclRule) -> dict[str, Any]:
    ip6 = ":" in rule.src_network or ":" in rule.dst_network
    protocol = rule.protocol if isinstance(rule.protocol, int) else _PROTOCOLS[rule.protocol]
    return {
        "is_permit": _ACTIONS[rule.action],
        "src_prefix": rule.src_network or _ANY[ip6],
        "dst_prefix": rule.dst_network or _ANY[ip6],
        "proto": protocol,
        "srcport_or_icmptype_first": rule.src_ports.first,
        "srcport_or_icmptype_last": rule.src_ports.last,
        "dstport_or_icmpcode_first": rule.dst_ports.first,
        "dstport_or_icmpcode_last": rule.dst_ports.last,
        "tcp_flags_mask": rule.tcp_flags_mask,
        "tcp_flags_value": rule.tcp_flags_value,
    }


def decode_rule(r: dict[str, Any]) -> AclRule:
    def network(prefix: object) -> str:
        text = str(prefix)
        return "" if text == _ANY[False] else text

    number = int(r["proto"])
    return AclRule(
        action=_ACTION_NAMES[int(r["is_permit"])],  # VPP accepts no other value
        src_network=network(r["src_prefix"]),
        dst_network=network(r["dst_prefix"]),
        protocol=_PROTOCOL_NAMES.get(number, number),
        src_ports=PortRange(r["srcport_or_icmptype_first"], r["srcport_or_icmptype_last"]),
        dst_ports=PortRange(r["dstport_or_icmpcode_first"], r["dstport_or_icmpcode_last"]),
        tcp_flags_mask=int(r["tcp_flags_mask"]),
        tcp_flags_value=int(r["tcp_flags_value"]),
    )


class AclDescriptor(VppDescriptor[Acl, int]):
    name = "vpp-acl"
    key_prefix = keys.ACL_PREFIX
    supports_update = True
    supports_retrieve = True

    def __init__(self, client: VPPClient, acls: AclIndex) -> None:
        super().__init__(client)
        self.acls = acls

    def key_of(self, value: Acl) -> Key:
        return keys.acl(value.name)

    def check(self, key: Key, value: Acl) -> None:
        check_name(key, "name", value.name)
        for rule in value.rules:
            families = set()
            for field in ("src_network", "dst_network"):
                network = getattr(rule, field)
                if network:
                    check_cidr(key, f"rules.{field}", network, host_bits=False)
                    families.add(":" in network)
            if len(families) > 1:
                raise invalid(key, "rules", "source and destination of a rule mix IPv4 and IPv6")
            if isinstance(rule.protocol, int):
                check_range(key, "rules.protocol", rule.protocol, 0, 255)
            for field in ("src_ports", "dst_ports"):
                ports = getattr(rule, field)
                check_range(key, f"rules.{field}.first", ports.first, 0, 65535)
                check_range(key, f"rules.{field}.last", ports.last, ports.first, 65535)
            check_range(key, "rules.tcp_flags_mask", rule.tcp_flags_mask, 0, 255)
            check_range(key, "rules.tcp_flags_value", rule.tcp_flags_value, 0, 255)

    def equivalent(self, key: Key, old: Acl, new: Acl) -> bool:
        return old.name == new.name and [encode_rule(r) for r in old.rules] == [
            encode_rule(r) for r in new.rules
        ]

    async def create(self, key: Key, value: Acl) -> int:
        index = await self._replace(NO_INDEX, value)
        self.acls.put(value.name, index)
        return index

    async def update(self, key: Key, old: Acl, new: Acl, metadata: int | None) -> int:
        index = metadata if metadata is not None else self.acls.require(new.name)
        await self._replace(index, new)
        return index

    async def delete(self, key: Key, value: Acl, metadata: int | None) -> None:
        index = metadata if metadata is not None else self.acls.lookup(value.name)
        if index is not None:
            await self.call_gone_ok("acl_del", acl_index=index)
        self.acls.remove(value.name)

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        details = [d for d in await self.client.dump("acl_dump", acl_index=NO_INDEX) if d.tag]
        self.acls.rebuild((d.tag, int(d.acl_index)) for d in details)
        found = [
            (keys.acl(d.tag), Acl(d.tag, tuple(decode_rule(r) for r in d.r)), int(d.acl_index))
            for d in details
        ]
        return self.prefer_believed(correlate, found)

    async def _replace(self, index: int, value: Acl) -> int:
        rules = [encode_rule(r) for r in value.rules]
        reply = await self.call(
            "acl_add_replace", acl_index=index, tag=value.name, count=len(rules), r=rules
        )
        return int(reply.acl_index)
