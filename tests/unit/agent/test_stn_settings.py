"""The agent's ``stn`` setting: a socket and an interface, an optional keep-alive interval;
every mistake is one line naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from contivpp.agent.settings import STNSettings, settings_from_mapping
from contivpp.errors import ConfigError


def test_stn_is_off_unless_configured() -> None:
    assert settings_from_mapping({"nodeName": "n1"}).stn is None
    assert settings_from_mapping({"nodeName": "n1", "stn": None}).stn is None


def test_stn_values_are_taken() -> None:
    settings = settings_from_mapping(
        {"nodeName": "n1", "stn": {"socket": "/run/stn.sock", "interface": "ens3",
                                   "keepaliveSeconds": 2.5}}
    )  # fmt: skip
    assert settings.stn == STNSettings(Path("/run/stn.sock"), "ens3", 2.5)
    default = settings_from_mapping(
        {"nodeName": "n1", "stn": {"socket": "/run/stn.sock", "interface": "ens3"}}
    )
    assert default.stn is not None and default.stn.keepalive == 10.0


@pytest.mark.parametrize(
    ("stn", "message"),
    [
        ("on", "config: stn: must be a mapping, got str"),
        ({"interface": "ens3"}, "config: stn.socket: required when stn is set"),
        ({"socket": "/s"}, "config: stn.interface: required when stn is set"),
        ({"socket": "/s", "interface": "ens3", "keepalive": 1},
         "config: stn.keepalive: unknown setting (known: socket, interface, keepaliveSeconds)"),
        ({"socket": "/s", "interface": "a-very-long-name0"},
         "config: stn.interface: must be a Linux interface name, got str 'a-very-long-name0'"),
        ({"socket": "/s", "interface": "eth 0"},
         "config: stn.interface: must be a Linux interface name, got str 'eth 0'"),
        ({"socket": "/s", "interface": 3},
         "config: stn.interface: must be a Linux interface name, got int 3"),
        ({"socket": 5, "interface": "ens3"},
         "config: stn.socket: must be a path (string), got int 5"),
        ({"socket": "/" + "s" * 120, "interface": "ens3"},
         "config: stn.socket: 121 bytes, longer than the 107 a unix socket path can have"),
        ({"socket": "/s", "interface": "ens3", "keepaliveSeconds": 0},
         "config: stn.keepaliveSeconds: must be a positive number of seconds, got 0"),
    ],
)  # fmt: skip
def test_each_stn_mistake_names_the_setting(stn: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"nodeName": "n1", "stn": stn})
    assert str(raised.value) == message
