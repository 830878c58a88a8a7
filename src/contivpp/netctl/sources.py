"""Where netctl's answers come from: etcd, and the agents' HTTP APIs, found by node name.

An agent listens on 127.0.0.1 unless configured otherwise, so netctl finds a node's agent in
this order: an explicit ``--agent NODE=URL``; the local node (``--node-name``, else
``$NODE_NAME``, else the host name) at ``http://127.0.0.1:PORT``; any other node at its
management address (the Kubernetes Node's InternalIP, as reflected in etcd) on the same
port, which works when that agent's ``httpAddress`` is configured to listen there.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import attrs

from contivpp.agent.nodeid import NodeRecord, list_nodes
from contivpp.datastore import keys
from contivpp.datastore.etcd import EtcdStore
from contivpp.datastore.values import decode_value
from contivpp.errors import ConfigError, InputError, K8sObjectError
from contivpp.events import k8s

DEFAULT_AGENT_PORT = 9999


def parse_agent(text: str) -> tuple[str, str]:
    """``NODE=URL`` of ``--agent``; the URL must be http(s) with a host."""
    node, sep, url = text.partition("=")
    parsed = urllib.parse.urlsplit(url)
    if not sep or not node or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"--agent {text!r}: expected NODE=http://HOST:PORT")
    return node, url.rstrip("/")


@attrs.frozen
class Cluster:
    """What etcd says about the cluster at one moment."""

    #: Node ID -> record (name, VPP-side addresses), from the agents' ID allocations.
    ids: Mapping[int, NodeRecord]
    #: Kind -> (namespace, name) -> object, as the KSR reflected them.
    objects: Mapping[str, Mapping[tuple[str, str], k8s.K8sObject]]
    #: Keys whose value could not be read (a broken record), with the reason.
    skipped: Sequence[str] = ()

    def of_kind(self, kind: k8s.Kind) -> Mapping[tuple[str, str], k8s.K8sObject]:
        return self.objects.get(kind, {})

    def node_names(self) -> list[str]:
        """Every node known by an ID record or a Node object, sorted by name."""
        names = {r.name for r in self.ids.values()}
        names.update(name for _, name in self.of_kind("Node"))
        return sorted(names)

    def management_ip(self, node: str) -> str | None:
        obj = self.of_kind("Node").get(("", node))
        if not isinstance(obj, k8s.Node):
            return None
        by_type = {a.type: a.address for a in obj.addresses}
        return by_type.get("InternalIP") or by_type.get("ExternalIP")


async def read_cluster(store: EtcdStore, kinds: Sequence[k8s.Kind]) -> Cluster:
    ids, _ = await list_nodes(store)
    objects: dict[str, dict[tuple[str, str], k8s.K8sObject]] = {}
    skipped = []
    for kind in kinds:
        found = objects.setdefault(kind, {})
        result = await store.range(keys.kind_prefix(kind))
        for kv in result.kvs:
            try:
                obj = decode_value(kv.key, kv.value).obj
            except K8sObjectError as exc:
                skipped.append(str(exc))
                continue
            ref = k8s.ref_of(obj)
            found[(ref.namespace, ref.name)] = obj
    return Cluster(ids, objects, tuple(skipped))


@attrs.define
class Agents:
    """The agents' HTTP APIs, by node name (see the module docstring for how they are found)."""

    local_node: str
    port: int = DEFAULT_AGENT_PORT
    explicit: Mapping[str, str] = attrs.field(factory=dict)
    timeout: float = 5.0
    cluster: Cluster | None = None

    def url(self, node: str) -> str:
        if node in self.explicit:
            return self.explicit[node]
        if node == self.local_node:
            return f"http://127.0.0.1:{self.port}"
        ip = self.cluster.management_ip(node) if self.cluster is not None else None
        if ip is None:
            raise ConfigError(
                f"node {node}: no management address known in etcd; "
                f"give its agent with --agent {node}=http://HOST:PORT"
            )
        host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
        return f"http://{host}:{self.port}"

    async def get(self, session: aiohttp.ClientSession, node: str, path: str, **params: str) -> Any:
        """The agent's JSON (or text) answer; its 4xx/5xx ``error`` as an error of ours."""
        url = self.url(node)
        query = {k: v for k, v in params.items() if v}
        try:
            async with session.get(
                url + path, params=query, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                if resp.content_type == "application/json":
                    body: Any = await resp.json()
                else:
                    body = await resp.text()
                if resp.status >= 400:
                    error = body.get("error") if isinstance(body, dict) else str(body).strip()
                    raise InputError(f"agent of node {node} ({url}): {resp.status}: {error}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ConfigError(
                f"agent of node {node} at {url}: unreachable ({reason}); "
                f"is it running, or give its address with --agent {node}=URL"
            ) from exc

    async def readiness(self, session: aiohttp.ClientSession, node: str) -> str:
        """ "ready", "not ready: <reasons>" or "unreachable": for a table cell, never raises."""
        try:
            url = self.url(node)
        except ConfigError:
            return "unknown address"
        try:
            async with session.get(
                url + "/readyz", timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                return (await resp.text()).strip()
        except (aiohttp.ClientError, TimeoutError):
            return "unreachable"
