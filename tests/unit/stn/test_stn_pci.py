"""Finding a NIC's PCI function and its driver in sysfs (what DPDK binds and what a give-back
rebinds), on a fake sysfs laid out like the kernel's."""

from __future__ import annotations

import os
from pathlib import Path

from contivpp.stn.nic import pci_device


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
