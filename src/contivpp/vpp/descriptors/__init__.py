"""VPP descriptors: one small module per object kind, plugged into the KV scheduler.

The scheduler (:mod:`contivpp.reconcile`) knows nothing about VPP; these descriptors say, per
kind, how to create, update, delete and read back values over the binary API. All of them share
one :class:`~contivpp.vpp.client.VPPClient` and its interface index (logical name <->
sw_if_index), so values name interfaces and ACLs, never VPP indexes. Conventions (see
``docs/vpp.md``): keys come from :mod:`contivpp.model.keys`; interface, bridge-domain and ACL
names are stored as VPP tags; metadata is the sw_if_index of an interface and the acl_index of
an ACL, ``None`` for everything else.

=====================================  ======================================================
``vpp/vrf/<id>``                       :mod:`.vrf`
``vpp/interface/<name>``               :mod:`.interface` (:mod:`.loopback`, :mod:`.tap`,
                                       :mod:`.vxlan`); derives addresses and unnumbered
``vpp/address/<if>/<cidr>``            :mod:`.address` (derived)
``vpp/unnumbered/<if>``                :mod:`.unnumbered` (derived)
``vpp/route/...``                      :mod:`.route` (one path per value)
``vpp/arp/<if>/<ip>``                  :mod:`.neighbor`
``vpp/bd/<name>``                      :mod:`.bridge_domain`; derives members
``vpp/bd-interface/<bd>/<if>``         :mod:`.bd_interface` (derived)
``vpp/l2fib/<bd>/<mac>``               :mod:`.l2fib`
``vpp/nat44/...``                      :mod:`.nat_global`, :mod:`.nat_interface`,
                                       :mod:`.nat_pool`, :mod:`.nat_mapping`, :mod:`.nat_lb`,
                                       :mod:`.nat_identity`
``vpp/acl/<name>``                     :mod:`.acl`
``vpp/acl-interface/<if>``             :mod:`.acl_interface`
=====================================  ======================================================
"""

from __future__ import annotations

from contivpp.reconcile.api import AnyDescriptor
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.acl import AclDescriptor, AclIndex
from contivpp.vpp.descriptors.acl_interface import AclInterfaceDescriptor
from contivpp.vpp.descriptors.address import AddressDescriptor
from contivpp.vpp.descriptors.bd_interface import BridgeDomainInterfaceDescriptor
from contivpp.vpp.descriptors.bridge_domain import BridgeDomainDescriptor
from contivpp.vpp.descriptors.interface import InterfaceDescriptor
from contivpp.vpp.descriptors.l2fib import L2FibDescriptor
from contivpp.vpp.descriptors.nat_global import Nat44GlobalDescriptor
from contivpp.vpp.descriptors.nat_identity import Nat44IdentityMappingDescriptor
from contivpp.vpp.descriptors.nat_interface import Nat44InterfaceDescriptor
from contivpp.vpp.descriptors.nat_lb import Nat44LbStaticMappingDescriptor
from contivpp.vpp.descriptors.nat_mapping import Nat44StaticMappingDescriptor
from contivpp.vpp.descriptors.nat_pool import Nat44AddressPoolDescriptor
from contivpp.vpp.descriptors.neighbor import NeighborDescriptor
from contivpp.vpp.descriptors.route import RouteDescriptor
from contivpp.vpp.descriptors.unnumbered import UnnumberedDescriptor
from contivpp.vpp.descriptors.vrf import VrfDescriptor

__all__ = ["AclIndex", "vpp_descriptors"]


def vpp_descriptors(client: VPPClient) -> list[AnyDescriptor]:
    """Every VPP descriptor, sharing ``client`` (register them all with one scheduler)."""
    acls = AclIndex(client)
    return [
        VrfDescriptor(client),
        InterfaceDescriptor(client),
        AddressDescriptor(client),
        UnnumberedDescriptor(client),
        RouteDescriptor(client),
        NeighborDescriptor(client),
        BridgeDomainDescriptor(client),
        BridgeDomainInterfaceDescriptor(client),
        L2FibDescriptor(client),
        Nat44GlobalDescriptor(client),
        Nat44InterfaceDescriptor(client),
        Nat44AddressPoolDescriptor(client),
        Nat44StaticMappingDescriptor(client),
        Nat44LbStaticMappingDescriptor(client),
        Nat44IdentityMappingDescriptor(client),
        AclDescriptor(client, acls),
        AclInterfaceDescriptor(client, acls),
    ]
