"""The vswitch DaemonSet's CNI installer, run as its init container would run it (with the
host's root in a temporary directory), and the plugin it installs run by a python3 that does
not have contivpp installed: the installed file must stand alone."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"
HOST_PYTHON_DIR = "/usr/bin"  # Debian's python3, without contivpp


def installer() -> tuple[list[str], str]:
    docs = [d for d in yaml.safe_load_all((MANIFESTS / "vswitch.yaml").read_text()) if d]
    (init,) = docs[0]["spec"]["template"]["spec"]["initContainers"]
    assert init["name"] == "cni-installer"
    return init["command"][:2], init["command"][2]


def test_installer_drops_a_standalone_plugin_and_the_conflist(tmp_path: Path) -> None:
    host, config = tmp_path / "host", tmp_path / "etc-contivpp"
    config.mkdir()
    configmap = next(yaml.safe_load_all((MANIFESTS / "config.yaml").read_text()))
    (config / "10-contivpp.conflist").write_text(configmap["data"]["10-contivpp.conflist"])
    shell, script = installer()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",  # the image's python3
        "HOST_ROOT": str(host),
        "CONFIG_DIR": str(config),
    }
    for _ in range(2):  # a re-run (pod restart) replaces the files in place
        done = subprocess.run([*shell, script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    plugin = host / "opt/cni/bin/contivpp-cni"
    conflist = host / "etc/cni/net.d/10-contivpp.conflist"
    assert stat.S_IMODE(plugin.stat().st_mode) == 0o755
    assert stat.S_IMODE(conflist.stat().st_mode) == 0o644
    assert conflist.read_text() == (MANIFESTS / "10-contivpp.conflist").read_text()
    assert sorted(p.name for p in plugin.parent.iterdir()) == ["contivpp-cni"]  # no leftovers
    assert sorted(p.name for p in conflist.parent.iterdir()) == ["10-contivpp.conflist"]

    def run(command: str, stdin: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{HOST_PYTHON_DIR}:/bin",
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": "c1",
            "CNI_NETNS": "/var/run/netns/none",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(plugin.parent),
        }
        return subprocess.run([str(plugin)], input=stdin, env=env, capture_output=True, text=True)

    version = run("VERSION", '{"cniVersion": "1.0.0"}')
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout) == {
        "cniVersion": "1.0.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }
    # ADD with no agent behind the socket: the spec's "try again later" (11), exit 1
    net = json.loads(conflist.read_text())
    add_conf = {"cniVersion": net["cniVersion"], "name": net["name"], **net["plugins"][0]}
    add_conf["agentSocket"] = str(tmp_path / "no-agent.sock")
    add = run("ADD", json.dumps(add_conf))
    assert add.returncode == 1
    assert json.loads(add.stdout)["code"] == 11
