"""The ACLs applied to an interface, per direction and in order.

VPP sets an interface's whole ACL list in one call (``acl_interface_set_acl_list``: ingress
first, then egress), so the binding of one interface is one value, updated in place by the
same call. It depends on the interface and on every ACL it names; names are resolved to VPP's
indexes through the :class:`~contivpp.vpp.descriptors.acl.AclIndex` the ACL descriptor keeps.
"""

from __future__ import annotations

from collections.abc import Sequence

from contivpp.model import keys
from contivpp.model.acl import AclInterface
from contivpp.reconcile.api import Correlated, Dependency, Key, Retrieved
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.acl import AclIndex
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, invalid

#: ``acl_interface_set_acl_list.count`` is a u8.
MAX_ACLS = 255


class AclInterfaceDescriptor(VppDescriptor[AclInterface, None]):
    name = "vpp-acl-interface"
    key_prefix = keys.ACL_INTERFACE_PREFIX
    supports_update = True
    supports_retrieve = True
    retrieve_after = ("vpp-interface", "vpp-acl")

    def __init__(self, client: VPPClient, acls: AclIndex) -> None:
        super().__init__(client)
        self.acls = acls

    def key_of(self, value: AclInterface) -> Key:
        return keys.acl_interface(value.interface)

    def check(self, key: Key, value: AclInterface) -> None:
        if not value.ingress and not value.egress:
            raise invalid(key, "ingress", "names no ACL (delete the value instead)")
        for field in ("ingress", "egress"):
            names = getattr(value, field)
            if len(set(names)) != len(names):
                raise invalid(key, field, "names an ACL twice (VPP refuses duplicates)")
        if len(value.ingress) + len(value.egress) > MAX_ACLS:
            raise invalid(key, "egress", f"more than {MAX_ACLS} ACLs on one interface")

    def dependencies(self, key: Key, value: AclInterface) -> Sequence[Dependency]:
        acls = sorted({*value.ingress, *value.egress})
        return [
            Dependency(label="interface", key=keys.interface(value.interface)),
            *(Dependency(label=f"acl {name}", key=keys.acl(name)) for name in acls),
        ]

    async def create(self, key: Key, value: AclInterface) -> None:
        await self._set(value)

    async def update(self, key: Key, old: AclInterface, new: AclInterface, metadata: None) -> None:
        await self._set(new)

    async def delete(self, key: Key, value: AclInterface, metadata: None) -> None:
        index = self.interfaces.lookup(value.interface)
        if index is not None:  # else the interface took its bindings with it
            await self.call_gone_ok(
                "acl_interface_set_acl_list", sw_if_index=index, count=0, n_input=0, acls=[]
            )

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        found = []
        for d in await self.client.dump("acl_interface_list_dump", sw_if_index=NO_INDEX):
            name = self.interfaces.name_of(int(d.sw_if_index))
            acls = [self.acls.name_of(int(i)) for i in d.acls[: d.count]]
            if name is None or not acls:
                continue
            if None in acls:
                continue  # an ACL that is not ours (untagged): the binding cannot be named
            names = [a for a in acls if a is not None]
            value = AclInterface(name, tuple(names[: d.n_input]), tuple(names[d.n_input :]))
            found.append((self.key_of(value), value, None))
        return self.prefer_believed(correlate, found)

    async def _set(self, value: AclInterface) -> None:
        acls = [self.acls.require(name) for name in (*value.ingress, *value.egress)]
        await self.call(
            "acl_interface_set_acl_list",
            sw_if_index=self.interfaces.require(value.interface),
            count=len(acls),
            n_input=len(value.ingress),
            acls=acls,
        )
