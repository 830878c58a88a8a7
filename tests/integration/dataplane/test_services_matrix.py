"""The services reachability matrix, evaluated by ``contivpp.dataplane`` (its evaluator).

Each node's event log (``services_matrix.event_log``) is replayed by the controller, the VPP
values it renders are committed through the real descriptors and scheduler into a simulator
of that node, and both simulators are read back over the binary API only
(``read_snapshot``). The model then runs every row of ``services_matrix.ROWS``: from many
client ports (VPP picks an LB backend at random; the model hashes the client's address and
port), the set of backends that answered must be the row's set, each on its target port, and
every reply must reach the client from the very address and port it dialled. Rows nobody may
answer must end dropped or rejected as the row says. Traffic to the other node is followed
over VXLAN into its snapshot.

No root needed: the simulators run in-process without Linux taps.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
from services_matrix import (
    API_PORT,
    HOST_IPS,
    HOSTS,
    PODS,
    ROWS,
    TCP_PORT,
    UDP_PORT,
    Row,
    event_log,
    judge,
    snapshots_of,
)

from contivpp.dataplane import TCP, UDP, Dataplane, Packet, Snapshot
from contivpp.events.log import read_lines
from contivpp.reconcile import Key, RetryPolicy, Scheduler
from contivpp.renderers.node import HOST_TAP
from contivpp.replay import replay
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.sim import Simulator

#: Client ports per row: enough for the model's hash to pick every backend of an LB mapping.
SOURCE_PORTS = range(40000, 40032)


async def program(node: str, sock: str) -> None:
    """Replay ``node``'s log and commit its VPP values into the simulator at ``sock``."""
    result = await replay(read_lines(iter(event_log(node))))
    assert not result.rejections, result.rejections
    desired: dict[Key, object] = {k: v for k, v in result.desired.items() if k.startswith("vpp/")}
    async with VPPClient(sock, timeout=5, retry_interval=0.01) as client:
        sched = Scheduler(vpp_descriptors(client), retry=RetryPolicy(max_attempts=0))
        record = await sched.commit(desired, trigger="test")
        assert record.ok, dict(record.errors)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="svcmx-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def snapshots(workdir: Path) -> AsyncIterator[list[Snapshot]]:
    socks = {n: str(workdir / f"{n}.sock") for n in ("node-1", "node-2")}
    sims = [Simulator(seed=i) for i in (1, 2)]
    for sim, sock in zip(sims, socks.values(), strict=True):
        await sim.start(sock)
    try:
        for node, sock in socks.items():
            await program(node, sock)
        yield await snapshots_of(socks)
    finally:
        for sim in sims:
            await sim.close()


@attrs.frozen
class Seen:
    """What one row did over every client port."""

    backends: frozenset[str]
    refused: frozenset[str]  # "drop" / "reject" when some connection was refused
    sees: frozenset[str]  # "client" / "masqueraded": the sources the backends saw
    problems: tuple[str, ...]  # wrong target ports, wrong reply sources, lost replies


def client_of(row: Row) -> tuple[str, str]:
    """(source address, ingress interface or "" to let the model find the pod's TAP)."""
    if row.client in HOSTS:
        return HOST_IPS[row.node], HOST_TAP
    return PODS[row.client][1], ""


def target_port(row: Row, backend: str) -> int:
    if backend in HOSTS:
        return API_PORT
    return UDP_PORT if row.proto == "udp" else TCP_PORT


def evaluate(snapshots: list[Snapshot], row: Row) -> Seen:
    """Every client port of ``row`` through the model (a fresh one: no sessions yet)."""
    dp = Dataplane(snapshots)
    src, ingress = client_of(row)
    proto = UDP if row.proto == "udp" else TCP
    backends: set[str] = set()
    refused: set[str] = set()
    sees: set[str] = set()
    problems: list[str] = []
    for sport in SOURCE_PORTS:
        packet = Packet(src, row.dst, proto, sport, row.port)
        request = dp.send(packet, node=row.node, ingress=ingress or None)
        verdict = judge(row, request)
        if verdict in ("drop", "reject"):
            refused.add(verdict)
            continue
        if verdict.startswith("?"):
            problems.append(f"{sport}: {verdict}")
            continue
        backends.add(verdict)
        sees.add("client" if request.packet.src == src else "masqueraded")
        if request.packet.src == request.packet.dst:
            # The backend's kernel would answer itself; the answer never reaches VPP.
            problems.append(f"{sport}: {verdict} sees its own address as the source")
        if request.packet.dport != target_port(row, verdict):
            problems.append(f"{sport}: {verdict} reached on port {request.packet.dport}")
        reply = dp.reply(request)
        answer = (reply.result, reply.node, reply.packet.src, reply.packet.sport)
        if answer != ("delivered", row.node, row.dst, row.port) or reply.packet.dst != src:
            problems.append(f"{sport}: reply from {verdict} ended {answer}: {reply.reason}")
    return Seen(frozenset(backends), frozenset(refused), frozenset(sees), tuple(problems))


def expected(row: Row) -> Seen:
    refused = frozenset({row.refused}) if row.refused else frozenset()
    return Seen(row.backends, refused, frozenset({row.sees}) if row.backends else frozenset(), ())


def params() -> list[object]:
    return [
        pytest.param(r, id=r.name, marks=[pytest.mark.xfail(strict=True, reason=r.gap)])
        if r.gap
        else pytest.param(r, id=r.name)
        for r in ROWS
    ]


@pytest.mark.parametrize("row", params())
async def test_matrix_row(snapshots: list[Snapshot], row: Row) -> None:
    assert evaluate(snapshots, row) == expected(row)
