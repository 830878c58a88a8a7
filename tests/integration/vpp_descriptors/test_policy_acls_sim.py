"""Policy truth tables on programmed VPP state: render, reconcile into the simulator, read back.

The unit truth tables judge the rendered values. Here every scenario's values go through the
real KV scheduler and ACL descriptors into one simulator per node, and what is judged is
what the binary API reads back (``acl_dump``, ``acl_interface_list_dump``, interface tags).
So a rule the descriptors encode wrongly, an ACL the scheduler leaves pending, or a binding
in the wrong direction fails the table. Pod TAPs and uplinks are loopbacks with the same
names: ACLs bind to any interface, and only the names matter to the dataplane model.

The scenario code is synchronous, so each simulator, client and scheduler lives on a
background event loop and the scenario's ``program`` hook waits for it.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit"))

from policy_scenarios import SCENARIOS, make_cluster
from vppdesc_helpers import NO_INDEX

from contivpp.model import keys
from contivpp.model.acl import Acl, AclInterface
from contivpp.model.vpp import Interface
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.descriptors.acl import decode_rule
from contivpp.vpp.sim import Simulator

T = TypeVar("T")


@attrs.define
class _Node:
    sim: Simulator
    client: VPPClient
    sched: Scheduler
    desired: dict[Key, object] = attrs.Factory(dict)


class SimNodes:
    """One simulated VPP per node, driven from synchronous code through a background loop."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-nodes", daemon=True)
        self.thread.start()
        self.nodes: dict[str, _Node] = {}
        self.calls = 0

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def program(self, node: str, values: dict[Any, object]) -> Mapping[Any, object]:
        return self._run(self._program(node, values))

    def close(self) -> None:
        self._run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _start(self, name: str) -> _Node:
        sim = Simulator(seed=7)
        path = f"{self.directory}/{name}.sock"
        await sim.start(path)
        client = VPPClient(path, timeout=5, retry_interval=0.01)
        await client.__aenter__()
        sched = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        node = self.nodes[name] = _Node(sim, client, sched)
        return node

    async def _close(self) -> None:
        for node in self.nodes.values():
            await node.client.__aexit__(None, None, None)
            await node.sim.close()

    async def _program(self, name: str, values: dict[Any, object]) -> Mapping[Any, object]:
        node = self.nodes.get(name) or await self._start(name)
        # Interfaces stay once created (as pods' TAPs would while the scenario runs).
        interfaces = {
            key: value for key, value in node.desired.items() if isinstance(value, Interface)
        }
        for value in values.values():
            if isinstance(value, AclInterface):
                interfaces[keys.interface(value.interface)] = Interface(
                    name=value.interface, kind="loopback"
                )
        desired: dict[Key, object] = {**interfaces, **values}
        delta: dict[Key, object | None] = {k: None for k in node.desired if k not in desired}
        delta.update({k: v for k, v in desired.items() if node.desired.get(k) != v})
        record = await node.sched.commit(delta, trigger="policy-scenario")
        assert record.ok, dict(record.errors)
        node.desired = desired
        self.calls += 1
        return await self._read_back(node.client)

    @staticmethod
    async def _read_back(client: VPPClient) -> dict[str, object]:
        """ACLs and bindings as VPP reports them, named by their tags."""
        acls = {
            int(d.acl_index): Acl(d.tag, tuple(decode_rule(r) for r in d.r))
            for d in await client.dump("acl_dump", acl_index=NO_INDEX)
        }
        interfaces = await client.refresh_interfaces()
        out: dict[str, object] = {f"acl/{a.name}": a for a in acls.values()}
        for d in await client.dump("acl_interface_list_dump", sw_if_index=NO_INDEX):
            names = [acls[int(i)].name for i in d.acls[: d.count]]
            if not names:
                continue
            interface = interfaces.name_of(int(d.sw_if_index))
            assert interface is not None
            out[f"binding/{interface}"] = AclInterface(
                interface, tuple(names[: d.n_input]), tuple(names[d.n_input :])
            )
        return out


@pytest.fixture(scope="module")
def sim_nodes() -> Iterator[SimNodes]:
    # Unix socket paths are limited to 107 bytes: stay out of pytest's deep tmp_path.
    directory = tempfile.mkdtemp(prefix="polsim-", dir="/tmp")
    nodes = SimNodes(directory)
    yield nodes
    nodes.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("two_nodes", [False, True], ids=["one-node", "two-nodes"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_truth_table_on_the_simulator(sim_nodes: SimNodes, name: str, two_nodes: bool) -> None:
    # Each test gets fresh node names, hence fresh simulators: no state from earlier scenarios.
    prefix = f"{name}-{int(two_nodes)}"

    def program(node: str, values: dict[Any, object]) -> Mapping[Any, object]:
        return sim_nodes.program(f"{prefix}-{node}", values)

    c = make_cluster(two_nodes, via_service=False, program=program)
    SCENARIOS[name](c)
    assert c.checks > 0
