"""Issue 10 item 6a: an LB mapping's "pool containing my address" dependency must not be
matched against every key of the graph (it made a 21,000-value commit 40x slower)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from vpp_fakes import recording_client

from contivpp.model import keys
from contivpp.model.nat import Nat44AddressPool, Nat44Global, Nat44LbLocal, Nat44LbStaticMapping
from contivpp.reconcile import Descriptor, Key, Scheduler, ValueState
from contivpp.vpp.descriptors.nat_global import Nat44GlobalDescriptor
from contivpp.vpp.descriptors.nat_lb import Nat44LbStaticMappingDescriptor
from contivpp.vpp.descriptors.nat_pool import Nat44AddressPoolDescriptor

OTHERS = 2_000
MAPPINGS = 20


class Other(Descriptor[int, None]):
    name = "other"
    key_prefix = "other/"

    async def create(self, key: Key, value: int) -> None:
        return None

    async def delete(self, key: Key, value: int, metadata: None) -> None:
        return None


def mapping(n: int, backends: Sequence[str]) -> Nat44LbStaticMapping:
    return Nat44LbStaticMapping(
        external_ip=f"10.96.0.{n + 1}",
        external_port=80,
        protocol="tcp",
        locals=tuple(Nat44LbLocal(ip, 8080) for ip in backends),
        out2in_only=False,
    )


async def test_pool_dependency_is_not_matched_against_unrelated_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = recording_client()
    sched = Scheduler(
        [
            Nat44GlobalDescriptor(client),
            Nat44AddressPoolDescriptor(client),
            Nat44LbStaticMappingDescriptor(client),
            Other(),
        ]
    )
    asked: list[str] = []
    pool_range = keys.nat44_address_pool_range

    def counting(key: str) -> tuple[str, str, bool] | None:
        asked.append(key)
        return pool_range(key)

    monkeypatch.setattr(keys, "nat44_address_pool_range", counting)
    pool = keys.nat44_address_pool("10.96.0.1", "10.96.0.250")
    desired: dict[Key, object] = {Key(f"other/{n}"): n for n in range(OTHERS)}
    desired[keys.nat44_global()] = Nat44Global(forwarding=True)
    desired[pool] = Nat44AddressPool("10.96.0.1", "10.96.0.250")
    lbs = {
        keys.nat44_lb_static_mapping(f"10.96.0.{n + 1}", "tcp", 80): mapping(
            n, ["10.1.0.2", "10.1.0.3"]
        )
        for n in range(MAPPINGS)
    }
    record = await sched.commit({**desired, **lbs}, trigger="populate")
    assert record.ok, dict(record.errors)
    assert all(sched.status(key).state is ValueState.CONFIGURED for key in lbs)
    first = next(iter(lbs))
    await sched.commit(
        {first: mapping(0, ["10.1.0.2", "10.1.0.3", "10.1.0.4"])}, trigger="backend added"
    )
    assert sched.status(first).state is ValueState.CONFIGURED
    # Only pool keys are ever asked about; before the fix every one of the 2,000 other keys
    # was tested against every mapping's selector (more than 40,000 calls).
    assert {key for key in asked if not key.startswith(keys.NAT44_POOL_PREFIX)} == set()
    assert len(asked) <= 10 * MAPPINGS
    # The dependency still works: without its pool a mapping waits.
    await sched.commit({pool: None}, trigger="pool removed")
    assert sched.status(first).state is ValueState.PENDING
    assert sched.status(first).missing == ("address pool",)
