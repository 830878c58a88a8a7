"""``contivpp replay --vpp-socket``: a recorded log programs a real (simulated) VPP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contivpp.vpp.client import VPPClient

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "three-pods.jsonl"
CLI = [sys.executable, "-m", "contivpp.cli", "--log-level", "warning"]


@pytest.fixture
def vppsim() -> Iterator[str]:
    work = Path(tempfile.mkdtemp(prefix="replay-", dir="/tmp"))
    sock = work / "api.sock"
    proc = subprocess.Popen([*CLI, "vppsim", "--socket", str(sock)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert time.monotonic() < deadline, "simulator did not start"
            time.sleep(0.05)
        yield str(sock)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def run_replay(sock: str, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        [*CLI, "replay", str(EXAMPLE), "--vpp-socket", sock, "--json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


async def vpp_view(sock: str) -> dict[str, object]:
    """What VPP holds, by names (sw_if_index numbering aside)."""
    async with VPPClient(sock, name="test-view") as client:
        ifaces = await client.dump("sw_interface_dump")
        names = {int(i.sw_if_index): str(i.tag) for i in ifaces}
        routes = []
        for table in await client.dump("ip_table_dump"):
            table_id = int(table.table["table_id"])
            for r in await client.dump("ip_route_dump", table={"table_id": table_id}):
                for path in r.route["paths"]:
                    dev = names.get(int(path["sw_if_index"]), "")
                    routes.append((table_id, str(r.route["prefix"]), dev))
        arp = sorted(
            (names.get(int(n.neighbor["sw_if_index"]), ""), str(n.neighbor["ip_address"]))
            for n in await client.dump("ip_neighbor_dump", sw_if_index=0xFFFFFFFF, af=0)
        )
    return {
        "interfaces": sorted(t for t in names.values() if t),
        "routes": sorted(routes),
        "arp": arp,
    }


async def test_replay_programs_vpp_and_converges(vppsim: str) -> None:
    first = run_replay(vppsim)
    vpp = first["vpp"]
    assert isinstance(vpp, dict)
    assert vpp["converged"] is True and vpp["not_configured"] == []
    assert (
        vpp["configured"]
        == vpp["values"]
        == len([k for k in first["desired"] if k.startswith("vpp/")])
    )  # type: ignore[union-attr]
    view = await vpp_view(vppsim)
    pods = first["pods"]
    assert isinstance(pods, list)
    # every pod got its TAP, /32 route and ARP entry in the pod VRF
    assert len([t for t in view["interfaces"] if t.startswith("tap-") and t != "tap-vpp2"]) == 3  # type: ignore[union-attr]
    for pod in pods:
        assert (
            1,
            f"{pod['ip']}/32",
            next(
                t
                for t in view["interfaces"]
                if t.startswith("tap-") and pod["container_id"][:20] in t
            ),
        ) in view["routes"]  # type: ignore[union-attr,operator]
    assert ("vxlanBVI", "192.168.30.2") in view["arp"]  # type: ignore[operator]


async def test_replaying_again_gives_the_same_vpp_state(vppsim: str) -> None:
    run_replay(vppsim)
    before = await vpp_view(vppsim)
    run_replay(vppsim)
    assert await vpp_view(vppsim) == before


async def test_until_programs_a_prefix_of_the_log(vppsim: str) -> None:
    result = run_replay(vppsim, "--until", "4")
    view = await vpp_view(vppsim)
    assert result["pods"] == []
    assert "podGwLoop" in view["interfaces"] and not [
        t for t in view["interfaces"] if t.startswith("vxlan") and t != "vxlanBVI"
    ]  # type: ignore[union-attr]
