"""netctl's commands: each reads what it needs and returns JSON-able data plus a text rendering.

The JSON is the stable interface for scripts (``--json``); the text is for people, as tables
with a header row. Agents that cannot be reached while listing every node do not end the
command: their rows are missing and the problem is reported (on stderr, and under
``"errors"`` in JSON), so one dead node never hides the rest of the cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs

from contivpp.errors import ContivError, InputError
from contivpp.events import k8s
from contivpp.netctl.sources import Agents, Cluster

#: ``contivpp trace`` exit codes: 3 when the traced packet was not delivered.
NOT_DELIVERED = 3


@attrs.frozen
class Output:
    data: Any
    text: str
    errors: tuple[str, ...] = ()
    code: int = 0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart; "-" for empty cells."""
    cells = [[str(c) if c not in (None, "") else "-" for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *cells]
    ]
    return "\n".join(lines)


async def _each_node(
    agents: Agents, session: aiohttp.ClientSession, nodes: Sequence[str], path: str
) -> tuple[dict[str, Any], list[str]]:
    """``path`` of every node's agent concurrently; the answers, and one line per failure."""

    async def one(node: str) -> Any:
        return await agents.get(session, node, path)

    answers = await asyncio.gather(*(one(n) for n in nodes), return_exceptions=True)
    found, errors = {}, []
    for node, answer in zip(nodes, answers, strict=True):
        if isinstance(answer, ContivError):
            errors.append(str(answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            found[node] = answer
    return found, errors


async def nodes(agents: Agents, session: aiohttp.ClientSession, cluster: Cluster) -> Output:
    by_name = {r.name: r for r in cluster.ids.values()}
    names = cluster.node_names()
    health = await asyncio.gather(*(agents.readiness(session, n) for n in names))
    data: list[dict[str, Any]] = []
    for name, ready in zip(names, health, strict=True):
        record = by_name.get(name)
        data.append(
            {
                "id": record.id if record is not None else None,
                "name": name,
                "vpp_ips": list(record.ip_addresses) if record is not None else [],
                "management_ip": cluster.management_ip(name),
                "health": ready,
            }
        )
    rows = [
        (n["id"], n["name"], ",".join(n["vpp_ips"]), n["management_ip"], n["health"]) for n in data
    ]
    return Output({"nodes": data}, table(("ID", "NAME", "VPP-IP", "MANAGEMENT-IP", "HEALTH"), rows))


def _nodes_to_ask(cluster: Cluster, node: str | None) -> list[str]:
    if node is not None:
        return [node]
    return sorted({r.name for r in cluster.ids.values()})  # nodes whose agent has run


async def pods(
    agents: Agents, session: aiohttp.ClientSession, cluster: Cluster, node: str | None
) -> Output:
    found, errors = await _each_node(agents, session, _nodes_to_ask(cluster, node), "/pods")
    data = [
        {"node": name, **pod} for name, answer in sorted(found.items()) for pod in answer["pods"]
    ]
    rows = [(p["node"], f"{p['namespace']}/{p['name']}", p["ip"], p["vpp_interface"]) for p in data]
    text = table(("NODE", "POD", "IP", "VPP-INTERFACE"), rows)
    return Output({"pods": data, "errors": errors}, text, tuple(errors))


async def ipam(agents: Agents, session: aiohttp.ClientSession, node: str) -> Output:
    answer = await agents.get(session, node, "/ipam")
    fields = ("node", "node_id", "pod_subnet", "pod_gateway", "nat_loopback",
              "vpp_host_subnet", "node_interconnect_ip", "vxlan_ip", "free")  # fmt: skip
    lines = [f"{f.upper().replace('_', '-') + ':':<22}{answer.get(f, '-')}" for f in fields]
    allocated = [(a["ip"], a["pod"]) for a in answer["allocated"]]
    text = "\n".join(lines) + "\n\n" + table(("IP", "POD"), allocated)
    return Output(answer, text)


def _service_row(service: k8s.Service, slices: Sequence[k8s.EndpointSlice]) -> dict[str, Any]:
    endpoints = sorted(
        {address for s in slices for e in s.endpoints if e.ready for address in e.addresses}
    )
    return {
        "service": f"{service.namespace}/{service.name}",
        "type": service.type,
        "cluster_ip": service.cluster_ip,
        "external_ips": list(service.external_ips),
        "ports": [
            f"{p.port}/{p.protocol}" + (f":{p.node_port}" if p.node_port else "")
            for p in service.ports
        ],
        "endpoints": endpoints,
    }


def services(cluster: Cluster) -> Output:
    slices: dict[tuple[str, str], list[k8s.EndpointSlice]] = {}
    for obj in cluster.of_kind("EndpointSlice").values():
        if isinstance(obj, k8s.EndpointSlice):
            slices.setdefault((obj.namespace, obj.service_name), []).append(obj)
    data = [
        _service_row(obj, slices.get(ref, []))
        for ref, obj in sorted(cluster.of_kind("Service").items())
        if isinstance(obj, k8s.Service)
    ]
    rows = [
        (s["service"], s["type"], s["cluster_ip"], ",".join(s["ports"]),
         ",".join(s["endpoints"]))
        for s in data
    ]  # fmt: skip
    text = table(("SERVICE", "TYPE", "CLUSTER-IP", "PORTS", "ENDPOINTS"), rows)
    return Output({"services": data}, text)


def pod_ref(text: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(f"pod {text!r}: expected NAMESPACE/NAME")
    return namespace, name


async def policies(
    agents: Agents, session: aiohttp.ClientSession, cluster: Cluster, pod: str | None, node: str
) -> Output:
    """Which ACLs a pod's TAP carries and which policies made them: asked of the pod's node."""
    params = {}
    if pod is not None:
        ref = pod_ref(pod)
        obj = cluster.of_kind("Pod").get(ref)
        if isinstance(obj, k8s.Pod) and obj.node_name:
            node = obj.node_name
        params["pod"] = pod
    answer = await agents.get(session, node, "/policies", **params)
    rows = [
        (p["pod"], p["vpp_interface"], ",".join(p["input_acls"]), ",".join(p["output_acls"]),
         ",".join(p["policies"]))
        for p in answer["pods"]
    ]  # fmt: skip
    text = table(("POD", "VPP-INTERFACE", "INPUT-ACLS", "OUTPUT-ACLS", "POLICIES"), rows)
    return Output(answer, text)


async def txn_history(
    agents: Agents, session: aiohttp.ClientSession, node: str, params: dict[str, str], as_json: bool
) -> Output:
    if as_json:
        answer = await agents.get(session, node, "/scheduler/txn-history", **params)
        return Output(answer, "")
    text = await agents.get(session, node, "/scheduler/txn-history", format="text", **params)
    return Output(None, str(text).rstrip("\n"))


async def graph(agents: Agents, session: aiohttp.ClientSession, node: str, form: str) -> Output:
    body = await agents.get(session, node, "/scheduler/graph", format=form)
    return Output({"format": form, "graph": body}, str(body).rstrip("\n"))


async def dump(
    agents: Agents, session: aiohttp.ClientSession, node: str, prefix: str, view: str
) -> Output:
    answer = await agents.get(session, node, "/scheduler/dump", prefix=prefix, view=view)
    rows = []
    for key, value in answer["values"].items():
        shown = value["value"] if view == "actual" else value
        rows.append((key, json.dumps(shown, sort_keys=True, separators=(",", ":"))))
    return Output(answer, table(("KEY", "VALUE"), rows))


def _trace_text(outcome: dict[str, Any], title: str) -> list[str]:
    lines = [f"{title}:"]
    for number, hop in enumerate(outcome["hops"], 1):
        where = f"{hop['node']}/{hop['interface']}" if hop["interface"] else hop["node"]
        lines.append(
            f"  {number:2d}. {hop['stage']:<12} {hop['verdict']:<9} {where}: {hop['reason']}"
        )
    if outcome["result"] == "delivered":
        pod = f" (pod {outcome['pod']})" if outcome["pod"] else ""
        lines.append(f"  => DELIVERED to {outcome['interface']}{pod} on {outcome['node']}")
    else:
        lines.append(
            f"  => {outcome['result'].upper()} at {outcome['stage']} on {outcome['node']}: "
            f"{outcome['reason']}"
        )
    return lines


async def trace(
    agents: Agents, session: aiohttp.ClientSession, node: str, source: str, destination: str
) -> Output:
    answer = await agents.get(session, node, "/trace", **{"from": source, "to": destination})
    lines = _trace_text(answer["outcome"], "packet")
    if answer.get("reply"):
        lines += _trace_text(answer["reply"], "reply")
    delivered = answer["outcome"]["result"] == "delivered"
    return Output(answer, "\n".join(lines), code=0 if delivered else NOT_DELIVERED)
