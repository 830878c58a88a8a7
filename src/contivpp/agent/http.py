"""The agent's HTTP API: probes, metrics, and the views an operator debugs a node with.

``/healthz`` answers while the event loop runs; ``/readyz`` only once the agent can wire pods
(VPP connected, node ID known, startup resync done), with the reasons when it cannot. The rest
is read-only JSON about what the agent believes and did (Contiv's agent REST API, see
``docs/operate.md``): the reconciler's transactions, values, statuses and graph, the handled
events, the node's IPAM and pods, which ACLs a pod carries and why, and a packet trace over
this node's VPP. ``POST /scheduler/resync`` is the one write: it queues a resync event and
answers once it was handled. Bad query parameters get a 400 naming the parameter.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiohttp import web

from contivpp import ipam
from contivpp.dataplane import trace
from contivpp.dataplane.snapshot import read_snapshot
from contivpp.errors import InputError
from contivpp.events.k8s import NetworkPolicy, Pod
from contivpp.model import keys
from contivpp.model.acl import AclInterface
from contivpp.reconcile import OpRecord, TxnRecord, ValueStatus
from contivpp.reconcile.api import Key
from contivpp.renderers.pods import tap_name
from contivpp.renderers.policy_rules import policies_selecting
from contivpp.webapi import (
    Query,
    Unavailable,
    bound_port,
    json_response,
    make_application,
    plain,
    probe_routes,
    start_site,
)

if TYPE_CHECKING:
    from contivpp.agent.run import Agent

#: How long ``POST /scheduler/resync`` waits for its event to be handled.
RESYNC_TIMEOUT = 120.0
#: Rendering a big graph to SVG must not hold a request forever.
GRAPHVIZ_TIMEOUT = 30.0


class _Timed(Protocol):
    @property
    def seq(self) -> int: ...


T = TypeVar("T", bound=_Timed)


def select(items: Sequence[T], query: Query, started: Callable[[T], float]) -> list[T]:
    """``since`` / ``until`` (Unix seconds), ``seq`` (exactly that one), ``last`` (the N
    newest): the filters both histories share, applied in that order."""
    since, until = query.timestamp("since"), query.timestamp("until")
    seq, last = query.integer("seq", minimum=1), query.integer("last", minimum=1)
    if since is not None and until is not None and until < since:
        raise InputError(f"query parameter 'until' ({until:g}) is before 'since' ({since:g})")
    out = [
        item
        for item in items
        if (since is None or started(item) >= since)
        and (until is None or started(item) <= until)
        and (seq is None or item.seq == seq)
    ]
    return out[-last:] if last is not None else out


HISTORY_PARAMS = ("since", "until", "seq", "last")


def _iso(wall: float) -> str:
    moment = datetime.datetime.fromtimestamp(wall, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def op_json(op: OpRecord) -> dict[str, Any]:
    return {
        "op": op.op.value,
        "key": op.key,
        "wave": op.wave,
        "prev_state": op.prev_state.value,
        "new_state": op.new_state.value,
        "prev_value": plain(op.prev_value),
        "new_value": plain(op.new_value),
        "error": None if op.error is None else str(op.error),
        "flags": [
            flag
            for flag in ("derived", "property", "recreate", "revert", "retry")
            if getattr(op, flag)
        ],
    }


def txn_json(record: TxnRecord, wall: float) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "kind": record.kind.value,
        "trigger": record.trigger,
        "started": wall,
        "started_iso": _iso(wall),
        "duration_seconds": round(record.duration, 6),
        "calls": record.calls,
        "ok": record.ok,
        "reverted": record.reverted,
        "errors": {key: str(error) for key, error in sorted(record.errors.items())},
        "retrying": sorted(record.retrying),
        "retrieve_errors": {k: str(e) for k, e in sorted(record.retrieve_errors.items())},
        "drift": [plain(d) for d in record.drift],
        "planned": [op_json(op) for op in record.planned],
        "executed": [op_json(op) for op in record.executed],
    }


def txn_text(record: dict[str, Any]) -> str:
    """One transaction for people: a header line, the trigger, one line per executed op."""
    ms = record["duration_seconds"] * 1000
    outcome = "ok" if record["ok"] else f"{len(record['errors'])} error(s)"
    if record["reverted"]:
        outcome += ", reverted"
    lines = [
        f"txn {record['seq']}  {record['kind']}  {record['started_iso']}  {ms:.1f} ms  "
        f"{record['calls']} call(s)  {outcome}",
        f"  trigger: {record['trigger']}",
    ]
    for number, op in enumerate(record["executed"], 1):
        flags = f" [{','.join(op['flags'])}]" if op["flags"] else ""
        line = f"  {number:3d}. {op['op']:<6} {op['key']}{flags} -> {op['new_state']}"
        if op["error"]:
            line += f"  error: {op['error']}"
        lines.append(line)
    if not record["executed"]:
        lines.append("  (no operation)")
    return "\n".join(lines)


def status_json(status: ValueStatus, retry_due: float | None) -> dict[str, Any]:
    return {
        "key": status.key,
        "state": status.state.value,
        "origin": status.origin.value,
        "value": plain(status.value),
        "error": None if status.error is None else str(status.error),
        "missing": list(status.missing),
        "last_op": None if status.last_op is None else status.last_op.value,
        "attempts": status.attempts,
        "derived_from": status.derived_from,
        "retry_scheduled": retry_due is not None,
    }


def _pod_ref(text: str, parameter: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise InputError(f"query parameter {parameter!r}: expected NAMESPACE/NAME, got {text!r}")
    return namespace, name


class AgentAPI:
    """The handlers, over one agent (read at request time: it changes under them)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._offset: float | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/scheduler/txn-history", self.txn_history),
            web.get("/scheduler/dump", self.dump),
            web.get("/scheduler/status", self.status),
            web.get("/scheduler/graph", self.graph),
            web.post("/scheduler/resync", self.resync),
            web.get("/controller/event-history", self.event_history),
            web.get("/ipam", self.ipam),
            web.get("/pods", self.pods),
            web.get("/policies", self.policies),
            web.get("/trace", self.trace),
        ]

    def _wall_offset(self) -> float:
        """Scheduler clock (the loop's) -> Unix time; transactions carry the loop's time.

        Taken once, so a transaction shows the same ``started`` in every answer and an
        operator can pass it back as ``since``.
        """
        if self._offset is None:
            self._offset = time.time() - asyncio.get_running_loop().time()
        return self._offset

    async def txn_history(self, request: web.Request) -> web.Response:
        query = Query(request, (*HISTORY_PARAMS, "format"))
        form = query.choice("format", ("json", "text"), "json")
        offset = self._wall_offset()
        records = select(self.agent.scheduler.history, query, lambda r: r.started + offset)
        out = [txn_json(r, r.started + offset) for r in records]
        if form == "text":
            text = "\n".join(txn_text(r) for r in out)
            return web.Response(text=text + "\n" if text else "(no transaction)\n")
        return json_response({"transactions": out})

    async def dump(self, request: web.Request) -> web.Response:
        query = Query(request, ("prefix", "view"))
        prefix = query.text("prefix")
        view = query.choice("view", ("desired", "actual"), "desired")
        scheduler = self.agent.scheduler
        if view == "desired":
            values = {
                key: plain(value)
                for key, value in sorted(scheduler.nb_values().items())
                if key.startswith(prefix)
            }
            return json_response({"view": view, "prefix": prefix, "values": values})
        if not self.agent.client.connected:
            raise Unavailable("view=actual: VPP is not connected")
        found = await scheduler.read_southbound(prefix)
        return json_response(
            {
                "view": view,
                "prefix": prefix,
                "values": {
                    key: {"value": plain(value), "origin": origin.value}
                    for key, (value, origin) in found.values.items()
                },
                "not_retrievable": sorted(found.not_retrievable),
                "errors": found.errors,
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        query = Query(request, ("key", "prefix"))
        scheduler = self.agent.scheduler
        if "key" in request.query:
            key = Key(query.text("key"))
            if not key:
                raise InputError("query parameter 'key': must not be empty")
            status = scheduler.status(key)
            if status.state.value == "nonexistent":
                return json_response(
                    {"error": f"key {key!r} is not known to the scheduler"}, status=404
                )
            return json_response(status_json(status, scheduler.retry_due(key)))
        statuses = scheduler.statuses(query.text("prefix"))
        counts: dict[str, int] = {}
        problems = {}
        for key, status in statuses.items():
            counts[status.state.value] = counts.get(status.state.value, 0) + 1
            if status.state.value not in ("configured", "obtained"):
                problems[key] = status_json(status, scheduler.retry_due(key))
        return json_response({"counts": counts, "not_configured": problems})

    async def graph(self, request: web.Request) -> web.Response:
        query = Query(request, ("format",))
        graphviz = shutil.which("dot")
        form = query.choice("format", ("svg", "dot"), "svg" if graphviz else "dot")
        dot = self.agent.scheduler.to_dot()
        if form == "dot":
            return web.Response(text=dot, content_type="text/vnd.graphviz")
        if graphviz is None:
            return json_response(
                {"error": "format=svg needs Graphviz ('dot' is not installed); use format=dot"},
                status=501,
            )
        proc = await asyncio.create_subprocess_exec(
            graphviz,
            "-Tsvg",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(GRAPHVIZ_TIMEOUT):
                svg, err = await proc.communicate(dot.encode())
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return json_response({"error": "Graphviz took too long; use format=dot"}, status=503)
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip()
            return json_response({"error": f"Graphviz failed: {message}"}, status=500)
        return web.Response(body=svg, content_type="image/svg+xml")

    async def resync(self, request: web.Request) -> web.Response:
        Query(request, ())
        if not self.agent.status.startup_resync_done:
            raise Unavailable("the agent has not finished its startup resync yet")
        seq = await self.agent.request_resync(RESYNC_TIMEOUT)
        offset = self._wall_offset()
        trigger = f"event {seq} ResyncRequested"
        records = [r for r in self.agent.scheduler.history if r.trigger == trigger]
        return json_response(
            {
                "event_seq": seq,
                "transaction": txn_json(records[-1], records[-1].started + offset)
                if records
                else None,
            }
        )

    async def event_history(self, request: web.Request) -> web.Response:
        query = Query(request, HISTORY_PARAMS)
        events = select(tuple(self.agent.controller.history), query, lambda e: e.started)
        out = [
            {
                "seq": e.seq,
                "type": e.type,
                "started": e.started,
                "started_iso": _iso(e.started),
                "duration_seconds": round(e.duration, 6),
                "outcome": e.outcome,
                "error": e.error or None,
            }
            for e in events
        ]
        return json_response({"events": out})

    async def ipam(self, request: web.Request) -> web.Response:
        Query(request, ())
        state = self.agent.controller.state
        config = state.config
        node_id = state.node_id
        body: dict[str, Any] = {"node": config.node_name, "node_id": node_id}
        if node_id is not None:
            plan = config.ipam
            subnet = ipam.node_pod_subnet(plan, node_id)
            body |= {
                "pod_subnet": str(subnet),
                "pod_gateway": str(ipam.pod_gateway(plan, node_id)),
                "nat_loopback": str(ipam.nat_loopback(plan, node_id)),
                "vpp_host_subnet": str(ipam.vpp_host_subnet(plan, node_id)),
                "node_interconnect_ip": str(ipam.node_interconnect_ip(plan, node_id)),
                "vxlan_ip": str(ipam.vxlan_ip(plan, node_id)),
            }
        allocator = state.allocator
        allocated = []
        if allocator is not None:
            for index, (namespace, name) in sorted(allocator.owners.items()):
                address = allocator.subnet.network_address + index
                allocated.append({"ip": str(address), "pod": f"{namespace}/{name}"})
            capacity = allocator.last_index - allocator.first_index + 1
            body["free"] = capacity - len(allocated)
        body["allocated"] = allocated
        return json_response(body)

    async def pods(self, request: web.Request) -> web.Response:
        Query(request, ())
        scheduler = self.agent.scheduler
        out = []
        for (namespace, name), pod in sorted(self.agent.controller.state.local_pods.items()):
            tap = tap_name(pod.container_id)
            out.append(
                {
                    "namespace": namespace,
                    "name": name,
                    "ip": pod.ip or None,
                    "container_id": pod.container_id,
                    "netns": pod.netns,
                    "ifname": pod.ifname,
                    "vpp_interface": tap,
                    "vpp_interface_state": scheduler.status(keys.interface(tap)).state.value,
                }
            )
        return json_response({"node": self.agent.settings.agent.node_name, "pods": out})

    async def policies(self, request: web.Request) -> web.Response:
        query = Query(request, ("pod",))
        state = self.agent.controller.state
        wanted = _pod_ref(query.text("pod"), "pod") if "pod" in request.query else None
        local = state.local_pods
        if wanted is not None and wanted not in local:
            return json_response(
                {"error": f"pod {wanted[0]}/{wanted[1]} is not wired on this node"}, status=404
            )
        all_policies = [
            p for p in state.of_kind("NetworkPolicy").values() if isinstance(p, NetworkPolicy)
        ]
        desired = self.agent.scheduler.nb_values()
        out = []
        for ref, pod in sorted(local.items()):
            if wanted is not None and ref != wanted:
                continue
            tap = tap_name(pod.container_id)
            binding = desired.get(keys.acl_interface(tap))
            obj = state.of_kind("Pod").get(ref)
            selecting = policies_selecting(obj, all_policies) if isinstance(obj, Pod) else ()
            out.append(
                {
                    "pod": f"{ref[0]}/{ref[1]}",
                    "vpp_interface": tap,
                    # VPP's directions: output = traffic leaving VPP towards the pod.
                    "input_acls": list(binding.ingress)
                    if isinstance(binding, AclInterface)
                    else [],
                    "output_acls": list(binding.egress)
                    if isinstance(binding, AclInterface)
                    else [],
                    "policies": [f"{ns}/{name}" for ns, name in selecting],
                    "reflected": isinstance(obj, Pod),
                }
            )
        return json_response({"node": self.agent.settings.agent.node_name, "pods": out})

    def _trace_pods(self) -> list[trace.Pod]:
        return [
            trace.Pod(namespace, name, pod.ip, tap_name(pod.container_id))
            for (namespace, name), pod in sorted(self.agent.controller.state.local_pods.items())
        ]

    async def trace(self, request: web.Request) -> web.Response:
        query = Query(request, ("from", "to"))
        for name in ("from", "to"):
            if not query.text(name):
                raise InputError(f"query parameter {name!r} is required")
        pods = self._trace_pods()
        node = self.agent.settings.agent.node_name
        labels = {p.label for p in pods}
        for name, what in (("from", "source"), ("to", "destination")):
            end = query.text(name).partition(":")[0] if name == "to" else query.text(name)
            # Named here: trace's own message points at --state-dir, a CLI flag.
            if "/" in end and end not in labels:
                raise InputError(f"trace: {what} {end!r}: no such pod on this node")
        try:
            trace_request = trace.build_request(
                query.text("from"), query.text("to"), pods=pods, node=node
            )
        except InputError as exc:
            raise InputError(f"trace: {exc}") from exc
        if not self.agent.client.connected:
            raise Unavailable("trace: VPP is not connected")
        snapshot = await read_snapshot(self.agent.client, node)
        outcomes = trace.run(trace_request, [snapshot], pods)
        return json_response(trace.to_json(trace_request, outcomes))


def make_app(agent: Agent) -> web.Application:
    async def readiness() -> tuple[bool, str]:
        reasons = agent.status.not_ready()
        return (False, "not ready: " + "; ".join(reasons)) if reasons else (True, "ready")

    return make_application(
        probe_routes(readiness, agent.metrics.registry) + AgentAPI(agent).routes()
    )


async def serve_http(agent: Agent, host: str, port: int) -> None:
    """Serve until cancelled; :attr:`Agent.http_port` tells the port (port 0: any free one)."""
    runner = await start_site(make_app(agent), host, port, "httpAddress")
    try:
        agent.http_port = bound_port(runner)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
