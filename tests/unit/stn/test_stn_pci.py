"""Finding a NIC's PCI function and its driver in sysfs (what DPDK binds), and handing a NIC
that vfio-pci holds back to its kernel driver, on a fake sysfs laid out like the kernel's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contivpp.errors import STNError
from contivpp.stn.nic import NicConfig, pci_device, rebind_driver


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def fake_sysfs(root: Path) -> Path:
    pci = root / "devices/pci0000:00"
    # virtio-net: the netdev's device is virtio2, a child of the PCI function 0000:00:03.0
    (pci / "0000:00:03.0/virtio2/net/eth0").mkdir(parents=True)
    _link(pci / "0000:00:03.0/virtio2/net/eth0/device", "../../../virtio2")
    _link(pci / "0000:00:03.0/virtio2/driver", "../../../../bus/virtio/drivers/virtio_net")
    _link(pci / "0000:00:03.0/driver", "../../../bus/pci/drivers/virtio-pci")
    _link(root / "class/net/eth0", "../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0")
    # a plain PCI NIC: the device is the PCI function itself
    (pci / "0000:00:08.0/net/ens8").mkdir(parents=True)
    _link(pci / "0000:00:08.0/net/ens8/device", "../../../0000:00:08.0")
    _link(pci / "0000:00:08.0/driver", "../../../bus/pci/drivers/e1000")
    _link(root / "class/net/ens8", "../../devices/pci0000:00/0000:00:08.0/net/ens8")
    # a veth: no device at all
    (root / "devices/virtual/net/veth0").mkdir(parents=True)
    _link(root / "class/net/veth0", "../../devices/virtual/net/veth0")
    return root / "class/net"


def test_pci_function_and_driver(tmp_path: Path) -> None:
    net = fake_sysfs(tmp_path)
    assert pci_device("eth0", net) == ("0000:00:03.0", "virtio-pci")
    assert pci_device("ens8", net) == ("0000:00:08.0", "e1000")
    assert pci_device("veth0", net) == ("", "")
    assert pci_device("nosuch", net) == ("", "")


def _pci_bus(root: Path, bound_to: str | None) -> Path:
    bus = root / "bus/pci"
    device = root / "devices/pci0000:00/0000:00:08.0"
    device.mkdir(parents=True)
    (bus / "devices").mkdir(parents=True)
    _link(bus / "devices/0000:00:08.0", "../../../devices/pci0000:00/0000:00:08.0")
    for driver in ("e1000", "vfio-pci"):
        (bus / "drivers" / driver).mkdir(parents=True)
    if bound_to:
        _link(device / "driver", f"../../../bus/pci/drivers/{bound_to}")
    return bus


def _nic(pci: str = "0000:00:08.0", driver: str = "e1000") -> NicConfig:
    return NicConfig("ens8", "", 1500, True, (), (), pci_address=pci, kernel_driver=driver)


def test_a_nic_held_by_vfio_goes_back_to_its_driver(tmp_path: Path) -> None:
    bus = _pci_bus(tmp_path, "vfio-pci")
    writes: list[tuple[str, str]] = []
    assert rebind_driver(_nic(), bus, write=lambda p, t: writes.append((str(p), t)))
    device = f"{bus}/devices/0000:00:08.0"
    # the kernel's sequence: unbind from the holder, override, probe, clear the override
    assert writes == [
        (f"{device}/driver/unbind", "0000:00:08.0"),
        (f"{device}/driver_override", "e1000"),
        (f"{bus}/drivers_probe", "0000:00:08.0"),
        (f"{device}/driver_override", "\n"),
    ]


def test_an_unbound_nic_is_probed_without_unbinding(tmp_path: Path) -> None:
    bus = _pci_bus(tmp_path, None)
    writes: list[tuple[str, str]] = []
    assert rebind_driver(_nic(), bus, write=lambda p, t: writes.append((str(p), t)))
    assert [w[0].rsplit("/", 1)[1] for w in writes] == [
        "driver_override",
        "drivers_probe",
        "driver_override",
    ]


def test_nothing_to_rebind(tmp_path: Path) -> None:
    bus = _pci_bus(tmp_path, "e1000")
    writes: list[tuple[str, str]] = []

    def record(p: Path, t: str) -> None:
        writes.append((str(p), t))

    assert not rebind_driver(_nic(), bus, write=record)  # already on its driver
    assert not rebind_driver(_nic(pci="", driver=""), bus, write=record)  # a virtual NIC
    assert not rebind_driver(_nic(pci="0000:00:09.0"), bus, write=record)  # gone from the bus
    assert writes == []


def test_a_failed_sysfs_write_is_an_stn_error(tmp_path: Path) -> None:
    bus = _pci_bus(tmp_path, "vfio-pci")

    def refuse(p: Path, t: str) -> None:
        raise PermissionError(13, "Permission denied", str(p))

    with pytest.raises(
        STNError, match=r"0000:00:08\.0: cannot rebind to e1000: .*Permission denied"
    ):
        rebind_driver(_nic(), bus, write=refuse)
