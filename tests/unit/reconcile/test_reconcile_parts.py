"""The scheduler's building blocks: retry policy and queue, registry, dependency indexes."""

from __future__ import annotations

import math

import pytest
from reconcile_fakes import Southbound, TestDescriptor, k

from contivpp.errors import DescriptorError
from contivpp.reconcile import Dependency, Key, RetryPolicy
from contivpp.reconcile.deps import DependencyIndex, ProviderIndex, prefixes_in, same_shape
from contivpp.reconcile.registry import Registry
from contivpp.reconcile.retry import RetryQueue


def test_retry_delays_double_then_cap() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, multiplier=2.0, max_attempts=None)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(10_000) == 3.0  # no overflow for an unlimited policy
    assert policy.allows(10_000)


def test_retry_attempts_are_bounded() -> None:
    assert [RetryPolicy(max_attempts=2).allows(n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_attempts=0).allows(1)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=-1)
    with pytest.raises(ValueError):
        RetryPolicy(initial_delay=-1.0)


def test_retry_queue_pops_due_keys_in_order_and_forgets_cancelled_ones() -> None:
    queue = RetryQueue()
    queue.schedule(k("b"), 2.0)
    queue.schedule(k("a"), 2.0)
    queue.schedule(k("c"), 5.0)
    queue.schedule(k("d"), 1.0)
    queue.cancel(k("d"))
    queue.schedule(k("c"), 3.0)  # rescheduled earlier: the old entry is stale
    assert (len(queue), queue.next_due()) == (3, 2.0)
    assert queue.pop_due(2.5) == ["a", "b"]
    assert queue.pop_due(10.0) == ["c"]
    assert (len(queue), queue.next_due()) == (0, None)
    queue.schedule(k("now"), -math.inf)
    assert queue.pop_due(0.0) == ["now"]


def test_registry_picks_the_most_specific_descriptor() -> None:
    sb = Southbound()
    registry = Registry()
    broad = TestDescriptor(sb, "interface", "vpp/interface/")
    address = TestDescriptor(sb, "address", "vpp/interface/address/")
    registry.register(broad)
    registry.register(address)
    assert registry.lookup(k("vpp/interface/address/eth0/10.0.0.1")) is address
    assert registry.lookup(k("vpp/interface/eth0")) is broad
    assert registry.lookup(k("linux/x")) is None


def test_registry_orders_retrieval_and_rejects_cycles() -> None:
    sb = Southbound()
    registry = Registry()
    registry.register(TestDescriptor(sb, "route", "r/", retrieve_after=("interface", "vrf")))
    registry.register(TestDescriptor(sb, "interface", "i/", retrieve_after=("vrf",)))
    registry.register(TestDescriptor(sb, "vrf", "v/"))
    assert [d.name for d in registry.retrieve_order()] == ["vrf", "interface", "route"]
    with pytest.raises(DescriptorError, match="cycle"):
        registry.register(TestDescriptor(sb, "a", "a/", retrieve_after=("b",)))
        registry.register(TestDescriptor(sb, "b", "b/", retrieve_after=("a",)))
    assert "b" not in [d.name for d in registry.retrieve_order()]


def test_dependency_index_finds_dependents_by_key_prefix_and_selector() -> None:
    index = DependencyIndex()
    index.index(k("route/1"), [Dependency(label="if", key=k("if/a"))])
    index.index(k("route/2"), [Dependency(label="any if", any_of_prefixes=("if/",))])
    index.index(k("route/3"), [Dependency(label="up", any_of_selector=lambda key: "up" in key)])
    assert index.dependents_of(k("if/a")) == {"route/1", "route/2"}
    assert index.dependents_of(k("if/up")) == {"route/2", "route/3"}
    index.index(k("route/1"), [])
    index.index(k("route/2"), [Dependency(label="if", key=k("if/b"))])
    assert index.dependents_of(k("if/a")) == set()
    assert index.dependents_of(k("if/b")) == {"route/2"}


def test_provider_index_tracks_existing_keys_per_prefix_and_selector() -> None:
    providers = ProviderIndex()
    prefix = Dependency(label="any", any_of_prefixes=("if/",))
    selector = Dependency(label="sel", any_of_selector=lambda key: key.endswith("/up"))
    providers.watch(k("route/1"), [prefix, selector], existing=[k("if/a"), k("x/up")])
    assert set(providers.providers(k("route/1"), prefix)) == {"if/a"}
    assert set(providers.providers(k("route/1"), selector)) == {"x/up"}
    providers.changed(k("if/b/up"), True)
    providers.changed(k("if/a"), False)
    assert set(providers.providers(k("route/1"), prefix)) == {"if/b/up"}
    assert set(providers.providers(k("route/1"), selector)) == {"x/up", "if/b/up"}


def test_prefixes_in_gives_the_same_answer_both_ways() -> None:
    few = {"if/", "if/a", "route/"}
    many = few | {f"p{n}/" for n in range(100)}
    assert sorted(prefixes_in("if/abc", few)) == ["if/", "if/a"]
    assert sorted(prefixes_in("if/abc", many)) == ["if/", "if/a"]


def test_same_shape_never_trusts_selectors() -> None:
    exact = (Dependency(label="a", key=k("x")),)
    assert same_shape(exact, (Dependency(label="a", key=k("x")),))
    assert not same_shape(exact, (Dependency(label="a", key=k("y")),))
    selector = (Dependency(label="s", any_of_selector=bool),)
    assert not same_shape(selector, selector)


def test_blocker_names_what_still_needs_a_value() -> None:
    from contivpp.reconcile.graph import Graph

    graph = Graph()
    sb = Southbound()
    kind = TestDescriptor(sb, "if", "if/")
    nodes = {key: graph.add(k(key), kind) for key in ("if/a", "if/b", "if/c")}
    child = graph.add(k("if/a/addr"), kind, base=k("if/a"))
    for node in [*nodes.values(), child]:
        graph.set_available(node, True)
    graph.set_applied(nodes["if/c"], None, (Dependency(label="any", any_of_prefixes=("if/b",)),))
    graph.set_applied(nodes["if/b"], None, (Dependency(label="a", key=k("if/a")),))

    assert graph.blocker(nodes["if/a"], graph.presence()) == "if/a/addr"  # derived first
    assert graph.blocker(nodes["if/b"], graph.presence()) == "if/c"
    # A dependent deleted in an earlier wave no longer counts; one deleted alongside does.
    assert graph.blocker(nodes["if/b"], graph.presence(gone={k("if/c")}), {k("if/c")}) is None
    assert graph.blocker(nodes["if/b"], graph.presence(gone={k("if/c")})) == "if/c"


def test_scoped_selectors_are_only_asked_about_keys_in_their_scope() -> None:
    asked: list[str] = []

    def pool_holds_7(key: Key) -> bool:
        asked.append(key)
        return key.endswith("-7")

    dep = Dependency(label="pool", any_of_selector=pool_holds_7, selector_scope="pool/")
    others = [k(f"route/{n}") for n in range(50)]
    index = DependencyIndex()
    index.index(k("lb/1"), [dep])
    providers = ProviderIndex()
    providers.watch(k("lb/1"), [dep], existing=[*others, k("pool/1-7"), k("pool/1-3")])
    assert set(providers.providers(k("lb/1"), dep)) == {"pool/1-7"}
    for key in others:
        providers.changed(key, False)
        assert index.dependents_of(key) == set()
    assert index.dependents_of(k("pool/5-7")) == {"lb/1"}
    providers.changed(k("pool/5-7"), True)
    assert set(providers.providers(k("lb/1"), dep)) == {"pool/1-7", "pool/5-7"}
    assert all(key.startswith("pool/") for key in asked)
    # A selector without a scope is still asked about everything (the general, slow case).
    index.index(k("lb/2"), [Dependency(label="any", any_of_selector=lambda key: "x" in key)])
    assert index.dependents_of(k("route/x")) == {"lb/2"}
