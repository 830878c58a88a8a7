"""The NAT44 plugin itself: enabled (with its VRFs and session limit) and forwarding.

In VPP v26.06 the NAT44-ED plugin is off until ``nat44_ed_plugin_enable_disable`` turns it on,
and every other NAT call fails while it is off; so every NAT value depends on this one.
Disabling wipes the whole NAT configuration, which is why only forwarding is updated in place
and any other change recreates the plugin (the scheduler removes and re-adds the dependent NAT
values around it). VPP reports no "enabled" flag: its running configuration shows a non-zero
session limit exactly while the plugin is enabled.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from contivpp.errors import VPPApiError
from contivpp.model import keys
from contivpp.model.nat import Nat44Global
from contivpp.reconcile.api import Correlated, Key, Retrieved
from contivpp.vpp import retvals as rv
from contivpp.vpp.descriptors.base import NO_INDEX, VppDescriptor, check_range

#: Sessions per thread when the value says 0 (nat44_ed.c).
DEFAULT_SESSIONS = 63 * 1024


def _normal(value: Nat44Global) -> Nat44Global:
    return attrs.evolve(value, sessions=value.sessions or DEFAULT_SESSIONS)


class Nat44GlobalDescriptor(VppDescriptor[Nat44Global, None]):
    name = "vpp-nat44-global"
    key_prefix = keys.NAT44_GLOBAL
    supports_update = True
    supports_retrieve = True

    def key_selector(self, key: Key) -> bool:
        return key == keys.NAT44_GLOBAL

    def key_of(self, value: Nat44Global) -> Key:
        return keys.nat44_global()

    def check(self, key: Key, value: Nat44Global) -> None:
        check_range(key, "inside_vrf", value.inside_vrf, 0, NO_INDEX - 1)
        check_range(key, "outside_vrf", value.outside_vrf, 0, NO_INDEX - 1)
        check_range(key, "sessions", value.sessions, 0, NO_INDEX - 1)

    def equivalent(self, key: Key, old: Nat44Global, new: Nat44Global) -> bool:
        return _normal(old) == _normal(new)

    def update_with_recreate(
        self, key: Key, old: Nat44Global, new: Nat44Global, metadata: None
    ) -> bool:
        return attrs.evolve(_normal(old), forwarding=False) != attrs.evolve(
            _normal(new), forwarding=False
        )

    async def create(self, key: Key, value: Nat44Global) -> None:
        try:
            await self._enable(value)
        except VPPApiError as exc:
            if exc.retval != rv.FEATURE_ALREADY_ENABLED:
                raise
            # Enabled with settings nobody recorded: a create starts from a clean plugin.
            await self.call("nat44_ed_plugin_enable_disable", enable=False)
            await self._enable(value)
        await self.call("nat44_forwarding_enable_disable", enable=value.forwarding)

    async def update(self, key: Key, old: Nat44Global, new: Nat44Global, metadata: None) -> None:
        await self.call("nat44_forwarding_enable_disable", enable=new.forwarding)

    async def delete(self, key: Key, value: Nat44Global, metadata: None) -> None:
        try:
            await self.call("nat44_ed_plugin_enable_disable", enable=False)
        except VPPApiError as exc:
            if exc.retval != rv.FEATURE_ALREADY_DISABLED:
                raise

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        config = await self.call("nat44_show_running_config")
        if not config.sessions:
            return []
        value = Nat44Global(
            forwarding=bool(config.forwarding_enabled),
            inside_vrf=int(config.inside_vrf),
            outside_vrf=int(config.outside_vrf),
            sessions=int(config.sessions),
        )
        return self.prefer_believed(correlate, [(keys.nat44_global(), value, None)])

    async def _enable(self, value: Nat44Global) -> None:
        await self.call(
            "nat44_ed_plugin_enable_disable",
            enable=True,
            inside_vrf=value.inside_vrf,
            outside_vrf=value.outside_vrf,
            sessions=value.sessions,
        )
