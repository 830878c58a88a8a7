"""Simulated ACL plugin: ACLs and their binding to interfaces.

Contiv renders Kubernetes network policies as ACLs applied to pod interfaces; this module keeps
ACLs (indices from a pool, rules as sent) and per-interface input / output lists, with the
plugin's validation and its quirks (``acl_interface_set_acl_list`` failing with ``retval = 1``).
Semantics follow VPP v26.06 (``plugins/acl/acl.c``); see ``vpp-socket-protocol.md``
section 11.4.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

import attrs

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.pools import Pool
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import NO_INDEX, BadAddress, Fields, Msg, address, has_host_bits

handlers = HandlerTable()


@attrs.frozen
class Rule:
    """One ``acl_rule`` as sent (prefixes as raw af / 16 bytes / len)."""

    is_permit: int
    src: tuple[int, bytes, int]
    dst: tuple[int, bytes, int]
    proto: int
    sport: tuple[int, int]
    dport: tuple[int, int]
    tcp_flags_mask: int
    tcp_flags_value: int

    def encode(self) -> Fields:
        def pfx(p: tuple[int, bytes, int]) -> Fields:
            return {"address": {"af": p[0], "un": {"ip6": p[1]}}, "len": p[2]}

        return {
            "is_permit": self.is_permit,
            "src_prefix": pfx(self.src),
            "dst_prefix": pfx(self.dst),
            "proto": self.proto,
            "srcport_or_icmptype_first": self.sport[0],
            "srcport_or_icmptype_last": self.sport[1],
            "dstport_or_icmpcode_first": self.dport[0],
            "dstport_or_icmpcode_last": self.dport[1],
            "tcp_flags_mask": self.tcp_flags_mask,
            "tcp_flags_value": self.tcp_flags_value,
        }

    def snapshot(self) -> dict[str, Any]:
        def pfx(p: tuple[int, bytes, int]) -> str:
            return f"{ipaddress.ip_address(p[1] if p[0] == 1 else p[1][:4])}/{p[2]}"

        return {
            "is_permit": self.is_permit,
            "src": pfx(self.src),
            "dst": pfx(self.dst),
            "proto": self.proto,
            "sport": list(self.sport),
            "dport": list(self.dport),
            "tcp_flags_mask": self.tcp_flags_mask,
            "tcp_flags_value": self.tcp_flags_value,
        }


@attrs.define
class Acl:
    tag: str
    rules: list[Rule]


@attrs.define
class Binding:
    input: list[int] = attrs.field(factory=list)
    output: list[int] = attrs.field(factory=list)


@attrs.define
class AclState:
    acls: dict[int, Acl] = attrs.field(factory=dict)
    pool: Pool = attrs.field(factory=Pool)
    bindings: dict[int, Binding] = attrs.field(factory=dict)

    def interface_deleted(self, sw_if_index: int) -> None:
        self.bindings.pop(sw_if_index, None)

    def in_use(self, acl_index: int, *, is_input: bool) -> bool:
        return any(acl_index in (b.input if is_input else b.output) for b in self.bindings.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "acls": {
                str(i): {"tag": a.tag, "rules": [r.snapshot() for r in a.rules]}
                for i, a in sorted(self.acls.items())
            },
            "interfaces": {
                str(i): {"input": b.input, "output": b.output}
                for i, b in sorted(self.bindings.items())
                if b.input or b.output
            },
        }


def _valid_prefix(p: Msg) -> tuple[int, bytes, int] | None:
    """The prefix as stored, or None if VPP's verify_address would refuse it."""
    try:
        addr = address(p.sub("address"))
    except BadAddress:
        return None
    length = p.u("len")
    if length > addr.max_prefixlen or has_host_bits(addr, length):
        return None
    return (addr.version // 6, addr.packed.ljust(16, b"\0"), length)


def _rule(r: Msg) -> Rule:
    src, dst = _valid_prefix(r.sub("src_prefix")), _valid_prefix(r.sub("dst_prefix"))
    if src is None:
        raise SimError(rv.INVALID_SRC_ADDRESS, acl_index=NO_INDEX)
    if dst is None:
        raise SimError(rv.INVALID_DST_ADDRESS, acl_index=NO_INDEX)
    if src[0] != dst[0]:
        raise SimError(rv.INVALID_SRC_ADDRESS, acl_index=NO_INDEX)
    sport = (r.u("srcport_or_icmptype_first"), r.u("srcport_or_icmptype_last"))
    dport = (r.u("dstport_or_icmpcode_first"), r.u("dstport_or_icmpcode_last"))
    if sport[0] > sport[1] or dport[0] > dport[1]:
        raise SimError(rv.INVALID_VALUE_2, acl_index=NO_INDEX)
    return Rule(
        is_permit=r.u("is_permit"),
        src=src,
        dst=dst,
        proto=r.u("proto"),
        sport=sport,
        dport=dport,
        tcp_flags_mask=r.u("tcp_flags_mask"),
        tcp_flags_value=r.u("tcp_flags_value"),
    )


@handlers.request("acl_add_replace")
def add_replace(call: Call) -> Fields:
    req, acl = call.req, call.state.acl
    acl_index = req.u("acl_index")
    if acl_index != NO_INDEX and acl_index not in acl.acls:
        raise SimError(rv.NO_SUCH_ENTRY, acl_index=acl_index)
    rules = [_rule(r) for r in req.subs("r")]
    if acl_index == NO_INDEX:
        acl_index = acl.pool.alloc()
    acl.acls[acl_index] = Acl(tag=req.s("tag"), rules=rules)
    return {"acl_index": acl_index}


@handlers.request("acl_del")
def delete(call: Call) -> Fields:
    acl_index = call.req.u("acl_index")
    acl = call.state.acl
    if acl_index not in acl.acls:
        raise SimError(rv.NO_SUCH_ENTRY)
    if acl.in_use(acl_index, is_input=True):
        raise SimError(rv.ACL_IN_USE_INBOUND)
    if acl.in_use(acl_index, is_input=False):
        raise SimError(rv.ACL_IN_USE_OUTBOUND)
    del acl.acls[acl_index]
    acl.pool.release(acl_index)
    return {}


@handlers.dump("acl_dump")
def dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("acl_index")
    for acl_index, a in sorted(call.state.acl.acls.items()):
        if wanted in (NO_INDEX, acl_index):
            yield {
                "acl_index": acl_index,
                "tag": a.tag,
                "count": len(a.rules),
                "r": [r.encode() for r in a.rules],
            }


def _set_direction(binding: Binding, acls: list[int], *, is_input: bool) -> bool:
    """acl_interface_set_inout_acl_list: False (nothing changed) on a duplicate."""
    if len(set(acls)) != len(acls):
        return False  # internally ENTRY_ALREADY_EXISTS
    if is_input:
        binding.input = list(acls)
    else:
        binding.output = list(acls)
    return True


@handlers.request("acl_interface_set_acl_list")
def set_acl_list(call: Call) -> Fields:
    req, state = call.req, call.state
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    acl = state.acl
    indices = req.ints("acls")
    if any(i not in acl.acls for i in indices):
        raise SimError(rv.NO_SUCH_ENTRY)
    n_input = req.u("n_input")
    binding = acl.bindings.setdefault(sw_if_index, Binding())
    # Egress first, then ingress; VPP ORs the two results into retval 1 and an egress failure
    # skips the ingress step.
    if not _set_direction(binding, indices[n_input:], is_input=False) or not _set_direction(
        binding, indices[:n_input], is_input=True
    ):
        raise SimError(1)
    return {}


@handlers.request("acl_interface_add_del")
def interface_add_del(call: Call) -> Fields:
    req, state = call.req, call.state
    sw_if_index = req.u("sw_if_index")
    state.interfaces.require(sw_if_index)
    acl = state.acl
    acl_index = req.u("acl_index")
    binding = acl.bindings.setdefault(sw_if_index, Binding())
    current = binding.input if req.b("is_input") else binding.output
    if req.b("is_add"):
        if acl_index not in acl.acls:
            raise SimError(rv.NO_SUCH_ENTRY)
        if acl_index in current:
            raise SimError(rv.ENTRY_ALREADY_EXISTS)
        current.append(acl_index)
    elif acl_index in current:
        current.remove(acl_index)
    else:
        raise SimError(rv.NO_SUCH_ENTRY)
    return {}


@handlers.dump("acl_interface_list_dump")
def interface_list_dump(call: Call) -> Iterable[Fields]:
    wanted = call.req.u("sw_if_index")
    acl = call.state.acl
    # VPP answers for every interface (empty lists included), or for the one asked about.
    for sw_if_index in sorted(call.state.interfaces.by_index):
        if wanted not in (NO_INDEX, sw_if_index):
            continue
        b = acl.bindings.get(sw_if_index, Binding())
        yield {
            "sw_if_index": sw_if_index,
            "count": len(b.input) + len(b.output),
            "n_input": len(b.input),
            "acls": b.input + b.output,
        }
