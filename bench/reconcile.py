"""Benchmarks of the reconciler (figures, not pass/fail; the last line is one JSON object).

(a) Latency of a one-value transaction with N values already applied (N = 100 ... 100,000)
    and the ratio t(largest N) / t(100): the design goal is at most 2, i.e. independent of N.
(b) A 10,000-value create transaction against a descriptor whose every call costs a simulated
    1 ms round trip, issued sequentially (max_in_flight=1) versus concurrently (the default 64).
(c) A full resync of 10,000 values with no drift: southbound calls made (goal: 0 writes).
(d) "Any of" dependencies at scale (issue 10 item 6a): the real NAT44 LB-mapping descriptor on
    a no-op southbound, 1,000 LB mappings that each depend on "a pool containing my address",
    next to 20,000 other values: the initial commit and one backend change, with that pool
    dependency and without it (``out2in_only`` mappings have none). Goal: the same order.

Usage: python bench/reconcile.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any, cast

import attrs
import structlog

from contivpp.model.nat import Nat44AddressPool, Nat44Global, Nat44LbLocal, Nat44LbStaticMapping
from contivpp.reconcile import (
    Correlated,
    Dependency,
    Descriptor,
    Key,
    ResyncKind,
    Retrieved,
    Scheduler,
)
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors.nat_global import Nat44GlobalDescriptor
from contivpp.vpp.descriptors.nat_lb import Nat44LbStaticMappingDescriptor
from contivpp.vpp.descriptors.nat_pool import Nat44AddressPoolDescriptor
from contivpp.vpp.ifindex import InterfaceIndex


@attrs.frozen
class Item:
    """A benchmark value: a payload and at most one exact dependency."""

    payload: int
    depends_on: str | None = None


class MemoryDescriptor(Descriptor[Item, int]):
    """Keeps values in a dict; every call optionally costs ``rtt`` seconds of waiting."""

    def __init__(self, name: str, prefix: str, rtt: float = 0.0) -> None:
        self.name = name
        self.key_prefix = prefix
        self.supports_update = True
        self.supports_retrieve = True
        self.rtt = rtt
        self.store: dict[Key, Item] = {}
        self.writes = 0
        self.retrieves = 0

    def dependencies(self, key: Key, value: Item) -> Sequence[Dependency]:
        if value.depends_on is None:
            return ()
        return (Dependency(label="parent", key=Key(value.depends_on)),)

    async def _round_trip(self) -> None:
        self.writes += 1
        if self.rtt:
            await asyncio.sleep(self.rtt)

    async def create(self, key: Key, value: Item) -> int:
        await self._round_trip()
        self.store[key] = value
        return len(self.store)

    async def update(self, key: Key, old: Item, new: Item, metadata: int | None) -> int | None:
        await self._round_trip()
        self.store[key] = new
        return None

    async def delete(self, key: Key, value: Item, metadata: int | None) -> None:
        await self._round_trip()
        del self.store[key]

    async def retrieve(self, correlate: Sequence[Correlated]) -> Sequence[Retrieved]:
        self.retrieves += 1
        return [
            Retrieved(key=k, value=v, metadata=i) for i, (k, v) in enumerate(self.store.items())
        ]


def desired_set(size: int) -> dict[Key, object]:
    """Half interfaces, half routes each depending on one interface."""
    values: dict[Key, object] = {}
    for n in range(size // 2):
        values[Key(f"if/{n}")] = Item(n)
        values[Key(f"route/{n}")] = Item(n, depends_on=f"if/{n}")
    return values


def build(rtt: float = 0.0, max_in_flight: int = 64) -> tuple[Scheduler, list[MemoryDescriptor]]:
    kinds = [MemoryDescriptor("if", "if/", rtt), MemoryDescriptor("route", "route/", rtt)]
    return Scheduler(kinds, max_in_flight=max_in_flight, history_size=100), kinds


async def one_value_txn(size: int, repeats: int) -> float:
    """Median seconds of a one-value transaction (alternating create, update, delete)."""
    sched, _ = build()
    await sched.commit_full(desired_set(size), trigger="populate")
    gc.collect()
    samples = []
    for n in range(repeats):
        key = Key("route/extra")
        change: dict[Key, object | None] = {
            0: {key: Item(n, depends_on="if/0")},
            1: {key: Item(n + 1, depends_on="if/0")},
            2: {key: None},
        }[n % 3]
        start = time.perf_counter()
        record = await sched.commit(change, trigger="one value")
        samples.append(time.perf_counter() - start)
        assert record.ok and record.calls == 1
    return statistics.median(samples)


async def create_all(size: int, max_in_flight: int) -> float:
    sched, kinds = build(rtt=0.001, max_in_flight=max_in_flight)
    start = time.perf_counter()
    record = await sched.commit(desired_set(size), trigger="create all")
    elapsed = time.perf_counter() - start
    assert record.ok and sum(k.writes for k in kinds) == size
    return elapsed


async def resync_without_drift(size: int) -> tuple[int, int, float]:
    sched, kinds = build()
    await sched.commit(desired_set(size), trigger="populate")
    for kind in kinds:
        kind.writes = 0
    start = time.perf_counter()
    record = await sched.resync(ResyncKind.FULL, trigger="no drift")
    elapsed = time.perf_counter() - start
    assert record.ok
    return sum(k.writes for k in kinds), sum(k.retrieves for k in kinds), elapsed


class NoopClient:
    """A southbound that answers every call at once: what is left is the scheduler's cost."""

    def __init__(self) -> None:
        self.interfaces = InterfaceIndex()
        self.calls = 0

    async def call(self, name: str, /, **fields: Any) -> None:
        self.calls += 1

    async def dump(self, name: str, /, **fields: Any) -> list[object]:
        return []


def lb_mapping(n: int, backends: tuple[int, ...], *, pool_dependency: bool) -> Nat44LbStaticMapping:
    return Nat44LbStaticMapping(
        external_ip=f"10.96.{n // 250}.{n % 250 + 1}",
        external_port=80,
        protocol="tcp",
        locals=tuple(Nat44LbLocal(f"10.1.{b // 250}.{b % 250 + 1}", 8080) for b in backends),
        out2in_only=not pool_dependency,
    )


async def lb_mappings_at_scale(
    others: int, mappings: int, repeats: int, *, pool_dependency: bool
) -> tuple[float, float, int]:
    """(initial commit s, median backend-change s, most VPP calls of one backend change)."""
    noop = NoopClient()
    client = cast(VPPClient, noop)
    nat = [
        Nat44GlobalDescriptor(client),
        Nat44AddressPoolDescriptor(client),
        Nat44LbStaticMappingDescriptor(client),
    ]
    sched = Scheduler([*nat, *build()[1]], history_size=100)
    desired: dict[Key, object] = dict(desired_set(others))
    desired[Key("vpp/nat44/global")] = Nat44Global(forwarding=True)
    pool = Nat44AddressPool("10.96.0.1", "10.96.3.250")
    desired[nat[1].key_of(pool)] = pool
    lbs = [lb_mapping(n, (n, n + 1), pool_dependency=pool_dependency) for n in range(mappings)]
    for lb in lbs:
        desired[nat[2].key_of(lb)] = lb
    gc.collect()
    start = time.perf_counter()
    record = await sched.commit(desired, trigger="populate")
    initial = time.perf_counter() - start
    assert record.ok, record.errors
    samples = []
    calls = 0
    for n in range(repeats):
        target = mappings // 2
        backends = (target, target + 1) if n % 2 else (target, target + 1, mappings + 7)
        change = lb_mapping(target, backends, pool_dependency=pool_dependency)
        sent = noop.calls
        start = time.perf_counter()
        record = await sched.commit({nat[2].key_of(change): change}, trigger="backend")
        samples.append(time.perf_counter() - start)
        assert record.ok, record.errors
        calls = max(calls, noop.calls - sent)
    return initial, statistics.median(samples), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for CI")
    args = parser.parse_args()
    # The library logs one line per transaction; a benchmark wants numbers, not 10^5 lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    sizes = [100, 1_000, 10_000] if args.quick else [100, 1_000, 10_000, 100_000]
    repeats = 150 if args.quick else 300
    bulk = 2_000 if args.quick else 10_000

    latency = {}
    for size in sizes:
        latency[size] = asyncio.run(one_value_txn(size, repeats))
        print(f"(a) one-value txn with {size:>7,} values: {latency[size] * 1e6:8.1f} us (median)")
    ratio = latency[sizes[-1]] / latency[sizes[0]]
    print(f"(a) t({sizes[-1]:,}) / t({sizes[0]}) = {ratio:.2f} (goal <= 2)")

    sequential = asyncio.run(create_all(bulk, max_in_flight=1))
    concurrent = asyncio.run(create_all(bulk, max_in_flight=64))
    speedup = sequential / concurrent
    print(f"(b) {bulk:,} creates at 1 ms RTT: sequential {sequential:.2f} s,")
    print(f"    concurrent (64 in flight) {concurrent:.2f} s, speed-up {speedup:.1f}x (goal >= 10)")

    writes, retrieves, resync_s = asyncio.run(resync_without_drift(bulk))
    print(f"(c) full resync of {bulk:,} values, no drift: {writes} writes, {retrieves} retrieves,")
    print(f"    {resync_s:.2f} s (goal: 0 writes)")

    others, mappings = (5_000, 250) if args.quick else (20_000, 1_000)
    lb: dict[str, tuple[float, float, int]] = {}
    for label, pool_dependency in (("with_pool_dependency", True), ("without", False)):
        lb[label] = asyncio.run(
            lb_mappings_at_scale(others, mappings, repeats, pool_dependency=pool_dependency)
        )
        initial, change, calls = lb[label]
        print(f"(d) {mappings:,} LB mappings + {others:,} values, {label.replace('_', ' ')}:")
        print(f"    initial commit {initial:.2f} s, one backend change {change * 1e3:.3f} ms")
        print(f"    (median; at most {calls} VPP call(s) per change)")

    figures = {
        "quick": args.quick,
        "one_value_txn_us": {str(n): round(t * 1e6, 1) for n, t in latency.items()},
        "one_value_ratio": round(ratio, 3),
        "one_value_ratio_sizes": [sizes[0], sizes[-1]],
        "bulk_values": bulk,
        "bulk_sequential_s": round(sequential, 3),
        "bulk_concurrent_s": round(concurrent, 3),
        "bulk_speedup": round(speedup, 1),
        "resync_values": bulk,
        "resync_writes": writes,
        "resync_retrieves": retrieves,
        "resync_s": round(resync_s, 3),
        "lb_others": others,
        "lb_mappings": mappings,
        "lb_initial_s": {k: round(v[0], 3) for k, v in lb.items()},
        "lb_backend_change_ms": {k: round(v[1] * 1e3, 3) for k, v in lb.items()},
        "lb_backend_change_calls": {k: v[2] for k, v in lb.items()},
    }
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
