"""The STN daemon's state file: round trip, permissions, and damaged files named precisely."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from contivpp.errors import STNError
from contivpp.stn.nic import NicConfig, Route
from contivpp.stn.state import StolenStore

NIC = NicConfig(
    name="eth0",
    mac="02:00:00:5e:00:53",
    mtu=1500,
    up=True,
    addresses=("192.0.2.10/24", "2001:db8::10/64"),
    routes=(
        Route("0.0.0.0/0", "192.0.2.1", metric=100, scope=0, protocol=16),
        Route("203.0.113.0/24", "", scope=253),
    ),
    pci_address="0000:00:08.0",
    kernel_driver="virtio-pci",
    dhcp=True,
)


def test_round_trip_and_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would give 0644 / 0755
    try:
        store = StolenStore(tmp_path / "stn")
        assert store.load() == {}
        store.save({"eth0": NIC})
    finally:
        os.umask(old)
    assert StolenStore(tmp_path / "stn").load() == {"eth0": NIC}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    store.save({})
    assert store.load() == {}


def test_a_leftover_temp_file_does_not_leak_its_mode(tmp_path: Path) -> None:
    tmp = tmp_path / ".stolen.json.tmp"
    tmp.write_text("")
    tmp.chmod(0o666)
    store = StolenStore(tmp_path)
    store.save({"eth0": NIC})
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def _write(tmp_path: Path, data: object) -> StolenStore:
    (tmp_path / "stolen.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return StolenStore(tmp_path)


def _record(**change: object) -> dict[str, object]:
    data = NIC.to_json()
    data.update(change)
    return data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ({"format": "other/1", "interfaces": {}}, "field 'format': expected 'contivpp-stn/1'"),
        ({"format": "contivpp-stn/1", "interfaces": []}, "field 'interfaces'"),
        (
            {"format": "contivpp-stn/1", "interfaces": {"eth0": _record(mtu="1500")}},
            "interfaces.eth0: field 'mtu': wrong type str",
        ),
        (
            {"format": "contivpp-stn/1", "interfaces": {"eth0": _record(up=1)}},
            "interfaces.eth0: field 'up': wrong type int",
        ),
        (
            {
                "format": "contivpp-stn/1",
                "interfaces": {"eth0": _record(addresses=["300.1.1.1/8"])},
            },
            r"interfaces.eth0: addresses\[0\]: '300.1.1.1/8' does not appear",
        ),
        (
            {
                "format": "contivpp-stn/1",
                "interfaces": {"eth0": _record(routes=[{"destination": "10.0.0.1/8"}])},
            },
            r"interfaces.eth0: routes\[0\].destination: 10.0.0.1/8 has host bits set",
        ),
        (
            {"format": "contivpp-stn/1", "interfaces": {"eth1": _record()}},
            "interfaces.eth1: name is 'eth0'",
        ),
    ],
)
def test_damaged_file_is_an_error_naming_the_field(
    tmp_path: Path, content: object, message: str
) -> None:
    store = _write(tmp_path, content)
    with pytest.raises(STNError, match=message) as info:
        store.load()
    assert str(info.value).startswith(f"{tmp_path}/stolen.json: ")


def test_an_unwritable_state_dir_is_an_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = StolenStore(blocker / "stn")
    with pytest.raises(STNError, match=f"^{blocker}/stn/stolen.json: cannot write: "):
        store.save({"eth0": NIC})
