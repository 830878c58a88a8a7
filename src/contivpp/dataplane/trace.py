"""``contivpp trace``: read VPPs over their API sockets, name the end points, print the path.

The forwarding model (:mod:`.forward`) works on addresses and interfaces; people ask about
pods. This module is the thin layer between them: it parses ``FROM`` / ``TO[:PORT[/PROTO]]``,
resolves ``namespace/name`` through the agent's ``pods.json`` (the pod's address, and its TAP
by the TAP naming rule of :func:`contivpp.renderers.pods.tap_name`), snapshots the local VPP and
every ``--peer``, runs one packet (and its reply when asked) and formats the outcome as text
or as stable JSON.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from contivpp.dataplane.forward import ICMP, PROTOCOL_NAMES, Dataplane, Outcome, Packet
from contivpp.dataplane.snapshot import Snapshot, read_snapshot
from contivpp.errors import InputError
from contivpp.renderers.pods import tap_name
from contivpp.vpp.client import VPPClient

PROTOCOLS = {name: number for number, name in PROTOCOL_NAMES.items()}
#: The source port of a traced TCP/UDP packet (and the echo id of ICMP) unless given.
DEFAULT_SOURCE_PORT = 40000
JSON_FORMAT = "contivpp-trace/1"


@attrs.frozen
class Pod:
    namespace: str
    name: str
    ip: str
    interface: str  # the VPP TAP's logical name

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"


def load_pods(state_dir: Path) -> list[Pod]:
    """The pods the agent wired, from its ``pods.json`` (see ``agent/podstore.py``)."""
    path = state_dir / "pods.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = data["pods"]
        return [
            Pod(str(r["namespace"]), str(r["name"]), str(r["ip"]), tap_name(str(r["container_id"])))
            for r in records
        ]
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a pods.json of the agent ({exc!r})") from exc


@attrs.frozen
class Target:
    """One end of the traced flow."""

    ip: str
    pod: str = ""  # namespace/name when given that way


def resolve(text: str, pods: Sequence[Pod], what: str) -> Target:
    """An IPv4 address, or ``namespace/name`` of a pod in ``pods``."""
    try:
        return Target(str(ipaddress.IPv4Address(text)))
    except ValueError:
        pass
    if "/" not in text:
        raise InputError(f"{what} {text!r}: neither an IPv4 address nor namespace/name")
    pod = next((p for p in pods if p.label == text), None)
    if pod is None:
        hint = "" if pods else " (give --state-dir to name pods)"
        raise InputError(f"{what} {text!r}: no such pod on this node{hint}")
    if not pod.ip:
        raise InputError(f"{what} {text!r}: the pod has no address yet")
    return Target(pod.ip, pod.label)


def parse_destination(text: str) -> tuple[str, int, int]:
    """``TO[:PORT[/PROTO]]`` -> (TO, port, protocol number). No port: an ICMP echo."""
    target, sep, rest = text.partition(":")
    if not sep:
        return target, 0, ICMP
    port_text, _, proto_text = rest.partition("/")
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(f"destination {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise InputError(f"destination {text!r}: port {port} is not in 0..65535")
    proto_name = (proto_text or "tcp").lower()
    if proto_name not in PROTOCOLS:
        raise InputError(
            f"destination {text!r}: protocol {proto_text!r} is not one of {sorted(PROTOCOLS)}"
        )
    return target, port, PROTOCOLS[proto_name]


def parse_peer(text: str) -> tuple[str, str]:
    node, sep, socket = text.partition("=")
    if not sep or not node or not socket:
        raise InputError(f"--peer {text!r}: expected NODE=SOCKET")
    return node, socket


async def snapshot_nodes(
    local: tuple[str, str], peers: Sequence[tuple[str, str]]
) -> list[Snapshot]:
    """Snapshots of the local VPP and every peer, read concurrently."""

    async def one(node: str, socket: str) -> Snapshot:
        async with VPPClient(socket) as client:
            return await read_snapshot(client, node)

    return list(await asyncio.gather(*(one(n, s) for n, s in (local, *peers))))


@attrs.frozen
class TraceRequest:
    source: Target
    destination: Target
    packet: Packet
    node: str
    ingress: str | None = None
    reply: bool = False


def build_request(
    source: str,
    destination: str,
    *,
    pods: Sequence[Pod] = (),
    node: str = "local",
    source_port: int = DEFAULT_SOURCE_PORT,
    ingress: str | None = None,
    reply: bool = False,
) -> TraceRequest:
    dst_text, port, proto = parse_destination(destination)
    src = resolve(source, pods, "source")
    dst = resolve(dst_text, pods, "destination")
    packet = Packet(src.ip, dst.ip, proto, sport=source_port, dport=port if proto != ICMP else 0)
    return TraceRequest(src, dst, packet, node, ingress, reply)


def run(
    request: TraceRequest, snapshots: Sequence[Snapshot], pods: Sequence[Pod] = ()
) -> list[Outcome]:
    """The outcome of the packet, then (with ``reply``) of its answer."""
    labels: dict[str, dict[str, str]] = {}
    for snap in snapshots:
        names = {i.name for i in snap.interfaces}
        labels[snap.node] = {p.interface: p.label for p in pods if p.interface in names}
    dataplane = Dataplane(snapshots, labels)
    ingress = request.ingress
    if ingress is None and request.source.pod:
        pod = next((p for p in pods if p.label == request.source.pod), None)
        if pod is not None and dataplane.node(request.node).interface_named(pod.interface):
            ingress = pod.interface
    first = dataplane.send(request.packet, node=request.node, ingress=ingress)
    if not request.reply or not first.delivered or first.stage == "local":
        return [first]
    return [first, dataplane.reply(first)]


def to_json(request: TraceRequest, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "from": {"ip": request.source.ip, "pod": request.source.pod},
        "to": {"ip": request.destination.ip, "pod": request.destination.pod},
        "packet": request.packet.to_json(),
        "outcome": outcomes[0].to_json(),
        "reply": outcomes[1].to_json() if len(outcomes) > 1 else None,
    }


def render_text(request: TraceRequest, outcomes: Sequence[Outcome]) -> str:
    lines = []
    for title, outcome in zip(("packet", "reply"), outcomes, strict=False):
        lines.append(f"{title}:")
        for number, hop in enumerate(outcome.hops, 1):
            where = f"{hop.node}/{hop.interface}" if hop.interface else hop.node
            lines.append(f"  {number:2d}. {hop.stage:<12} {hop.verdict:<9} {where}: {hop.reason}")
        lines.append(f"  => {summary(outcome)}")
    return "\n".join(lines)


def summary(outcome: Outcome) -> str:
    if outcome.result == "delivered":
        pod = f" (pod {outcome.pod})" if outcome.pod else ""
        where = "VPP itself" if outcome.stage == "local" else outcome.interface
        return f"DELIVERED to {where}{pod} on {outcome.node or 'the node'}"
    verb = outcome.result.upper()
    return f"{verb} at {outcome.stage} on {outcome.node or 'the node'}: {outcome.reason}"


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 when every traced packet was delivered, 3 otherwise (1 is for errors)."""
    return 0 if all(o.delivered for o in outcomes) else 3


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True)
