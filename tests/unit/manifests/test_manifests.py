"""manifests/: every object valid against the Kubernetes OpenAPI schemas (strict: an unknown
or misspelled field is an error), the one-file manifest equal to its parts, the agent config
loading with the agent's own parser, and the parts agreeing with each other (addresses,
sockets, ports) and with least privilege."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contivpp.agent.settings import settings_from_mapping

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"
K8S_VERSION = "1.33"
Obj = dict[str, Any]


def load(name: str = "contivpp.yaml") -> list[Obj]:
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def find(kind: str, name: str) -> Obj:
    (obj,) = [o for o in load() if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def container(workload: Obj, name: str, *, init: bool = False) -> Obj:
    spec = workload["spec"]["template"]["spec"]
    (c,) = [c for c in spec["initContainers" if init else "containers"] if c["name"] == name]
    return c


OBJECTS = load()


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_object_is_valid_against_the_kubernetes_schema(obj: Obj) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_schema_check_rejects_a_misspelled_field() -> None:
    stn = json.loads(json.dumps(find("DaemonSet", "contivpp-stn")))
    stn["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="'livenesProbe' was unexpected"):
        kubernetes_validate.validate(stn, K8S_VERSION, strict=True)


def test_the_parts_are_the_one_file_manifest() -> None:
    parts = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"contivpp.yaml", "kustomization.yaml"}
    assert set(parts) == on_disk
    assert [o for p in parts for o in load(p)] == OBJECTS
    check = subprocess.run(
        [sys.executable, str(MANIFESTS / "assemble.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in OBJECTS)
    assert kinds == [
        ("ClusterRole", "contivpp-ksr"),
        ("ClusterRoleBinding", "contivpp-ksr"),
        ("ConfigMap", "contivpp-agent-cfg"),
        ("ConfigMap", "contivpp-vpp-cfg"),
        ("DaemonSet", "contivpp-stn"),
        ("DaemonSet", "contivpp-vswitch"),
        ("Deployment", "contivpp-ksr"),
        ("Namespace", "contivpp"),
        ("Service", "contivpp-etcd"),
        ("ServiceAccount", "contivpp-etcd"),
        ("ServiceAccount", "contivpp-ksr"),
        ("ServiceAccount", "contivpp-stn"),
        ("ServiceAccount", "contivpp-vswitch"),
        ("StatefulSet", "contivpp-etcd"),
    ]


def test_the_agent_config_loads_and_agrees_with_the_other_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = find("ConfigMap", "contivpp-agent-cfg")["data"]
    monkeypatch.setenv("NODE_NAME", "node-7")  # what the vswitch DaemonSet sets
    settings = settings_from_mapping(yaml.safe_load(config["agent.yaml"]), "agent.yaml")
    assert settings.agent.node_name == "node-7"
    assert str(settings.agent.ipam.pod_subnet_cidr) == "10.1.0.0/16"

    # etcd: the agents and the KSR use the etcd Service's cluster IP and port
    svc = find("Service", "contivpp-etcd")["spec"]
    etcd = f"{svc['clusterIP']}:{svc['ports'][0]['port']}"
    assert settings.etcd_endpoints == (etcd,)
    ksr = container(find("Deployment", "contivpp-ksr"), "ksr")
    assert f"--etcd-endpoints={etcd}" in ksr["command"]
    assert str(settings.agent.ipam.service_cidr) == "10.96.0.0/12"
    assert svc["clusterIP"].startswith("10.96.")  # inside the service CIDR

    # the agent's probes hit its HTTP endpoint
    vswitch = find("DaemonSet", "contivpp-vswitch")
    agent = container(vswitch, "agent")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = agent[probe]["httpGet"]
        assert (get["host"], get["port"]) == (settings.http_host, settings.http_port)
    assert agent["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert agent["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert agent["command"] == ["contivpp", "agent", "--config", "/etc/contivpp/agent.yaml"]

    # the conflist is the repository's, and points at the agent's CNI socket
    conflist = config["10-contivpp.conflist"]
    assert conflist == (MANIFESTS / "10-contivpp.conflist").read_text()
    assert json.loads(conflist)["plugins"][0]["agentSocket"] == str(settings.cni_socket)

    # VPP serves its API where the agent looks for it, with the NAT and ACL plugins on
    startup = find("ConfigMap", "contivpp-vpp-cfg")["data"]["startup.conf"]
    assert f"socksvr {{ socket-name {settings.vpp_socket} }}" in startup
    for plugin in ("nat44_ed_plugin.so", "acl_plugin.so", "vxlan_plugin.so"):
        assert re.search(rf"plugin {re.escape(plugin)} {{ enable }}", startup)
    mounts = {m["mountPath"] for m in agent["volumeMounts"]}
    assert {str(settings.vpp_socket.parent), str(settings.cni_socket.parent)} <= mounts
    assert str(settings.state_dir) in mounts


def test_least_privilege() -> None:
    roles = [o for o in OBJECTS if o["kind"] in ("Role", "ClusterRole")]
    assert [r["metadata"]["name"] for r in roles] == ["contivpp-ksr"]
    granted = {
        (group, resource, verb)
        for rule in roles[0]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        (group, resource, verb)
        for group, resource in [
            ("", "namespaces"),
            ("", "pods"),
            ("", "services"),
            ("", "nodes"),
            ("discovery.k8s.io", "endpointslices"),
            ("networking.k8s.io", "networkpolicies"),
        ]
        for verb in ("list", "watch")
    }
    bindings = [o for o in OBJECTS if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [(b["roleRef"]["name"], b["subjects"]) for b in bindings] == [
        (
            "contivpp-ksr",
            [{"kind": "ServiceAccount", "name": "contivpp-ksr", "namespace": "contivpp"}],
        )
    ]
    for obj in OBJECTS:
        if obj["kind"] == "ServiceAccount" and obj["metadata"]["name"] != "contivpp-ksr":
            assert obj["automountServiceAccountToken"] is False, obj["metadata"]["name"]
    stn = container(find("DaemonSet", "contivpp-stn"), "stn")["securityContext"]
    assert stn["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}


def test_workload_shapes() -> None:
    ksr = find("Deployment", "contivpp-ksr")
    assert ksr["spec"]["replicas"] == 2
    vswitch = find("DaemonSet", "contivpp-vswitch")["spec"]["template"]["spec"]
    assert vswitch["hostNetwork"] is True
    assert [c["name"] for c in vswitch["containers"]] == ["vpp", "agent"]
    vpp = container(find("DaemonSet", "contivpp-vswitch"), "vpp")
    assert vpp["resources"]["limits"]["hugepages-2Mi"] == "512Mi"
    etcd = find("StatefulSet", "contivpp-etcd")["spec"]
    assert etcd["replicas"] == 1 and etcd["serviceName"] == "contivpp-etcd"
