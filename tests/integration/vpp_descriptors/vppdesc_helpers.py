"""Helpers for the VPP descriptor tests (imported by name: keep the module name unique).

The simulator runs in-process on the test's event loop and is restarted like VPP (all state
gone, same socket). ``by_names`` turns ``Simulator.dump_state()`` into a form keyed by names
instead of the numbers VPP chose (sw_if_index, ACL index, tap id, loopN), so the state before and
after a restart compares equal exactly when the configuration is the same.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from contivpp.reconcile import AnyDescriptor, Key, Scheduler, TxnRecord
from contivpp.vpp.sim import Simulator

NO_INDEX = 0xFFFFFFFF
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class SimHandle:
    """A simulator on ``path`` that can be restarted (a fresh, empty VPP on the same socket)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sim: Simulator | None = None

    async def start(self) -> None:
        self.sim = Simulator(seed=7)
        await self.sim.start(self.path)

    async def close(self) -> None:
        if self.sim is not None:
            await self.sim.close()
            self.sim = None

    async def restart(self) -> None:
        await self.close()
        await self.start()

    def state(self) -> dict[str, Any]:
        assert self.sim is not None
        return self.sim.dump_state()


async def commit_ok(sched: Scheduler, delta: Mapping[Key, object | None]) -> TxnRecord:
    record = await sched.commit(delta, trigger="test")
    assert record.ok, dict(record.errors)
    return record


def descriptor_for(descriptors: Iterable[AnyDescriptor], key: Key) -> AnyDescriptor:
    """The descriptor the scheduler would pick (longest prefix, then the selector)."""
    candidates = sorted(descriptors, key=lambda d: -len(d.key_prefix))
    return next(d for d in candidates if key.startswith(d.key_prefix) and d.key_selector(key))


def keyed(descriptors: Iterable[AnyDescriptor], *values: object) -> dict[Key, object]:
    """``values`` under the keys their descriptors build (``key_of``), as renderers would."""
    by_type = {}
    for d in descriptors:
        for base in getattr(type(d), "__orig_bases__", ()):
            args = typing.get_args(base)
            if args:
                by_type[args[0]] = d
    return {by_type[type(v)].key_of(v): v for v in values}


def macs_in(values: Iterable[object]) -> set[str]:
    """Every MAC written anywhere in these (attrs) values."""
    found: set[str] = set()

    def walk(item: object) -> None:
        if isinstance(item, str) and _MAC.match(item):
            found.add(item)
        elif attrs.has(type(item)):
            for field in attrs.fields(type(item)):
                walk(getattr(item, field.name))
        elif isinstance(item, tuple):
            for element in item:
                walk(element)

    for value in values:
        walk(value)
    return found


def by_names(state: dict[str, Any], chosen_macs_ok: set[str] | None = None) -> dict[str, Any]:
    """``state`` with VPP's numbering replaced by names (tags), lists sorted.

    MACs not in ``chosen_macs_ok`` that VPP generated (``02:fe:...`` random, ``de:ad:...``
    loopback defaults) become ``"<vpp>"``: VPP picks them anew after a restart.
    """
    names = {i["sw_if_index"]: i["tag"] or i["name"] for i in state["interfaces"]}
    names[NO_INDEX] = "-"
    acl_tags = {int(i): a["tag"] for i, a in state["acl"]["acls"].items()}
    keep = chosen_macs_ok or set()

    def mac(value: str) -> str:
        vpp_made = value.startswith(("02:fe:", "de:ad:")) and value not in keep
        return "<vpp>" if vpp_made else value

    def rename(items: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
        out = []
        for item in items:
            item = dict(item)
            for field in fields:
                if field in item:
                    item[field] = names.get(item[field], item[field])
            out.append(item)
        return sorted(out, key=repr)

    interfaces = [
        {**{k: v for k, v in i.items() if k not in ("sw_if_index", "name")}, "mac": mac(i["mac"])}
        for i in state["interfaces"]
    ]
    taps = [
        {**{k: v for k, v in t.items() if k != "id"}, "host_mac": mac(t["host_mac"])}
        for t in state["taps"]
    ]
    ip, l2, nat, acl = state["ip"], state["l2"], state["nat"], state["acl"]
    return {
        "interfaces": sorted(interfaces, key=repr),
        "taps": rename(taps, "sw_if_index"),
        "af_packets": rename(state["af_packets"], "sw_if_index"),
        "ip": {
            "tables": ip["tables"],
            "routes": sorted(
                ({**r, "paths": rename(r["paths"], "sw_if_index")} for r in ip["routes"]),
                key=repr,
            ),
            "addresses": {names[int(i)]: sorted(a) for i, a in ip["addresses"].items()},
            "bindings": rename(ip["bindings"], "sw_if_index"),
            "unnumbered": {names[int(u)]: names[d] for u, d in ip["unnumbered"].items()},
            "neighbors": rename(ip["neighbors"], "sw_if_index"),
        },
        "l2": {
            "bridge_domains": sorted(
                (
                    {**bd, "members": rename(bd["members"], "sw_if_index")}
                    for bd in l2["bridge_domains"]
                ),
                key=repr,
            ),
            "fib": rename(l2["fib"], "sw_if_index"),
        },
        "vxlan": rename(
            [{k: v for k, v in t.items() if k != "instance"} for t in state["vxlan"]["tunnels"]],
            "sw_if_index",
            "mcast_sw_if_index",
        ),
        "nat": {
            **{k: v for k, v in nat.items() if k not in ("interfaces", "output_interfaces")},
            "interfaces": {names[int(i)]: f for i, f in nat["interfaces"].items()},
            "output_interfaces": sorted(names[i] for i in nat["output_interfaces"]),
            "addresses": sorted(nat["addresses"], key=repr),
            "static_mappings": rename(nat["static_mappings"], "external_sw_if_index"),
            "lb_mappings": sorted(nat["lb_mappings"], key=repr),
            "identity_mappings": rename(nat["identity_mappings"], "sw_if_index"),
        },
        "acl": {
            "acls": {a["tag"]: a["rules"] for a in acl["acls"].values()},
            "interfaces": {
                names[int(i)]: {
                    "input": [acl_tags[x] for x in b["input"]],
                    "output": [acl_tags[x] for x in b["output"]],
                }
                for i, b in acl["interfaces"].items()
            },
        },
    }
