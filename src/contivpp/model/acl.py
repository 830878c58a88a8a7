"""Desired-state values for VPP's ACL plugin: ACLs by name and their binding to interfaces.

Contiv renders network policies as ACLs (``contiv-policy-<table>``) applied on the egress of pod
TAPs and node interfaces, plus a reflective ACL on ingress. VPP identifies an ACL by an index it
picks; values name ACLs instead (the name is stored as the ACL's VPP tag), so a desired set is
the same on every node and after every VPP restart. The binding of ACLs to an interface is one
value per interface because VPP sets an interface's whole ordered ACL list in one call.
"""

from __future__ import annotations

from typing import Literal

import attrs

#: ``reflect`` permits and records the session so the replies pass the other direction.
AclAction = Literal["deny", "permit", "reflect"]
#: Named IP protocols; any other protocol is given by its number (0..255).
AclProtocolName = Literal["any", "icmp", "tcp", "udp", "icmpv6"]


@attrs.frozen
class PortRange:
    """An inclusive port range (for ICMP: type range as source, code range as destination)."""

    first: int = 0
    last: int = 65535


@attrs.frozen
class AclRule:
    action: AclAction
    #: CIDRs (no host bits). "" = any address of the rule's family, which is IPv6 when the
    #: other network is IPv6 and IPv4 otherwise; "::/0" says "any IPv6" explicitly.
    src_network: str = ""
    dst_network: str = ""
    protocol: AclProtocolName | int = "any"
    src_ports: PortRange = PortRange()
    dst_ports: PortRange = PortRange()
    tcp_flags_mask: int = 0
    tcp_flags_value: int = 0


@attrs.frozen
class Acl:
    """An ordered list of rules; the first rule that matches decides."""

    name: str  # stored in VPP as the ACL's tag
    rules: tuple[AclRule, ...] = ()


@attrs.frozen
class AclInterface:
    """The ACLs applied to one interface, by name, in evaluation order per direction."""

    interface: str
    ingress: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()
