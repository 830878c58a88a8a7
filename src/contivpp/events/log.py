"""The replayable event log, format ``contivpp-events/1`` (docs/event-log.md).

The agent records every event it processes; ``contivpp replay`` feeds a recorded log through the
same loop, fold and renderers. UTF-8 JSON lines: a header line, then one event per line with a
strictly increasing ``seq``. Recording rotates size-capped files; each file starts with its own
header so any single file can be replayed on its own. Reading validates every line and reports
problems as ``line N: <what is wrong>``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import attrs
import structlog

from contivpp import private
from contivpp.config import AgentConfig, is_ipv4
from contivpp.errors import ConfigError, EventLogError, K8sObjectError
from contivpp.events import k8s
from contivpp.events.types import (
    CNIAdd,
    CNIDel,
    ConfigChanged,
    Event,
    K8sDeleted,
    K8sUpserted,
    NodeIDAllocated,
    NodeIDReleased,
    ResyncRequested,
    VPPConnected,
    VPPRestarted,
)

FORMAT = "contivpp-events/1"
log = structlog.get_logger("contivpp.events.log")


@attrs.frozen
class Header:
    node: str
    config: AgentConfig

    def to_json(self) -> dict[str, object]:
        return {"format": FORMAT, "node": self.node, "config": self.config.overrides_json()}


@attrs.frozen
class Record:
    """One event line: its sequence number, timestamp and the typed event."""

    seq: int
    ts: str
    event: Event


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Encoding


def encode_event(event: Event) -> dict[str, object]:
    """The type-specific fields of an event line (without seq / ts)."""
    match event:
        case K8sUpserted(raw=raw):
            if not raw:
                raise EventLogError(0, f"cannot record {k8s.ref_of(event.obj)}: no API form kept")
            return {"type": "k8s.upsert", "object": raw}
        case K8sDeleted(ref=ref, raw=raw):
            obj = raw or {
                "kind": ref.kind,
                "metadata": {
                    "name": ref.name,
                    **({"namespace": ref.namespace} if ref.namespace else {}),
                },
            }
            return {"type": "k8s.delete", "object": obj}
        case NodeIDAllocated(name=name, id=node_id, ip_addresses=ips):
            out: dict[str, object] = {"type": "node.id", "name": name, "id": node_id}
            if ips:
                out["ip_addresses"] = list(ips)
            return out
        case NodeIDReleased(name=name, id=node_id):
            return {"type": "node.release", "name": name, "id": node_id}
        case CNIAdd() | CNIDel():
            fields: dict[str, object] = {
                "type": "cni.add" if isinstance(event, CNIAdd) else "cni.del",
                "container_id": event.container_id,
                "netns": event.netns,
                "ifname": event.ifname,
                "pod_namespace": event.pod_namespace,
                "pod_name": event.pod_name,
            }
            if isinstance(event, CNIAdd) and event.ip:
                fields["ip"] = event.ip
            return fields
        case VPPConnected():
            return {"type": "vpp.connected"}
        case VPPRestarted():
            return {"type": "vpp.restarted"}
        case ResyncRequested(reason=reason):
            return {"type": "resync", "reason": reason} if reason else {"type": "resync"}
        case ConfigChanged(config=config):
            return {"type": "config", "config": config.overrides_json()}
    raise TypeError(f"unknown event {event!r}")


def encode_line(seq: int, ts: str, event: Event) -> str:
    body = {"seq": seq, "ts": ts, **encode_event(event)}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Decoding


def _field(
    line: int, data: Mapping[str, object], name: str, typ: type, *, empty_ok: bool = False
) -> object:
    if name not in data:
        raise EventLogError(line, f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise EventLogError(
            line, f"field {name!r} must be {typ.__name__}, got {type(value).__name__}"
        )
    if typ is str and not empty_ok and not value:
        raise EventLogError(line, f"field {name!r} is empty")
    return value


def parse_header(line: int, text: str) -> Header:
    data = _json_object(line, text)
    fmt = data.get("format")
    if fmt != FORMAT:
        raise EventLogError(line, f"not a {FORMAT} log: header format is {fmt!r}")
    node = str(_field(line, data, "node", str))
    config = data.get("config", {})
    try:
        return Header(node=node, config=AgentConfig.from_overrides(node, config))
    except ConfigError as exc:
        raise EventLogError(line, f"header: {exc}") from exc


def _json_object(line: int, text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventLogError(line, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise EventLogError(line, f"expected a JSON object, got {type(data).__name__}")
    return data


def _parse_ts(line: int, value: str) -> None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise EventLogError(line, f"field 'ts' is not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.utcoffset() != dt.timedelta(0):
        raise EventLogError(line, f"field 'ts' must be UTC: {value!r}")


def decode_line(line: int, text: str) -> Record:
    """Decode one event line (not the header; ``config`` events need :func:`read_lines`)."""
    return _decode_with(_DECODERS, line, text)


def _k8s_object(line: int, data: Mapping[str, object]) -> dict[str, object]:
    obj = _field(line, data, "object", dict)
    return obj  # type: ignore[return-value]


def _decode_upsert(line: int, data: Mapping[str, object]) -> Event:
    raw = _k8s_object(line, data)
    try:
        return K8sUpserted(obj=k8s.parse_object(raw), raw=raw)
    except K8sObjectError as exc:
        raise EventLogError(line, f"object {exc}") from exc


def _decode_delete(line: int, data: Mapping[str, object]) -> Event:
    raw = _k8s_object(line, data)
    try:
        return K8sDeleted(ref=k8s.parse_ref(raw), raw=raw)
    except K8sObjectError as exc:
        raise EventLogError(line, f"object {exc}") from exc


def _decode_node_id(line: int, data: Mapping[str, object]) -> Event:
    node_id = _field(line, data, "id", int)
    assert isinstance(node_id, int)
    if node_id <= 0:
        raise EventLogError(line, f"field 'id' must be a positive integer, got {node_id}")
    ips = data.get("ip_addresses", [])
    if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
        raise EventLogError(line, "field 'ip_addresses' must be a list of strings")
    return NodeIDAllocated(
        name=str(_field(line, data, "name", str)), id=node_id, ip_addresses=tuple(ips)
    )


def _decode_node_release(line: int, data: Mapping[str, object]) -> Event:
    node_id = _field(line, data, "id", int)
    assert isinstance(node_id, int)
    return NodeIDReleased(name=str(_field(line, data, "name", str)), id=node_id)


def _decode_cni(cls: type[CNIAdd] | type[CNIDel]) -> Callable[[int, Mapping[str, object]], Event]:
    def decode(line: int, data: Mapping[str, object]) -> Event:
        container_id = str(_field(line, data, "container_id", str))
        # A DEL may legitimately come without a netns (the sandbox is already gone).
        netns = str(_field(line, data, "netns", str, empty_ok=cls is CNIDel))
        ifname = str(_field(line, data, "ifname", str))
        namespace = str(_field(line, data, "pod_namespace", str))
        name = str(_field(line, data, "pod_name", str))
        if cls is CNIAdd and "ip" in data:
            ip = str(_field(line, data, "ip", str))
            if not is_ipv4(ip):
                raise EventLogError(line, f"field 'ip' is not an IPv4 address: {ip!r}")
            return CNIAdd(container_id, netns, ifname, namespace, name, ip=ip)
        return cls(container_id, netns, ifname, namespace, name)

    return decode


def _decode_resync(line: int, data: Mapping[str, object]) -> Event:
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise EventLogError(line, "field 'reason' must be str")
    return ResyncRequested(reason=reason)


_DECODERS: dict[str, Callable[[int, Mapping[str, object]], Event]] = {
    "k8s.upsert": _decode_upsert,
    "k8s.delete": _decode_delete,
    "node.id": _decode_node_id,
    "node.release": _decode_node_release,
    "cni.add": _decode_cni(CNIAdd),
    "cni.del": _decode_cni(CNIDel),
    "vpp.connected": lambda line, data: VPPConnected(),
    "vpp.restarted": lambda line, data: VPPRestarted(),
    "resync": _decode_resync,
}


def _decode_config(header: Header) -> Callable[[int, Mapping[str, object]], Event]:
    def decode(line: int, data: Mapping[str, object]) -> Event:
        try:
            return ConfigChanged(AgentConfig.from_overrides(header.node, data.get("config")))
        except ConfigError as exc:
            raise EventLogError(line, str(exc)) from exc

    return decode


@attrs.frozen
class LoadedLog:
    header: Header
    records: tuple[Record, ...]


def read_lines(lines: Iterator[str]) -> LoadedLog:
    """Parse and validate a whole log; raise one :class:`EventLogError` listing every bad line.

    Every line is checked (not just up to the first error) so one run shows all problems.
    """
    problems: list[EventLogError] = []
    header: Header | None = None
    records: list[Record] = []
    last_seq: int | None = None
    decoders = dict(_DECODERS)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            problems.append(EventLogError(number, "empty line"))
            continue
        try:
            if header is None:
                header = parse_header(number, text)
                decoders["config"] = _decode_config(header)
                continue
            record = _decode_with(decoders, number, text)
            if last_seq is not None and record.seq <= last_seq:
                raise EventLogError(
                    number, f"seq {record.seq} is not greater than previous seq {last_seq}"
                )
            last_seq = record.seq
            records.append(record)
        except EventLogError as exc:
            problems.append(exc)
            if header is None:
                break  # without a header nothing else can be read
    if header is None and not problems:
        problems.append(EventLogError(1, "empty log: missing header line"))
    if problems:
        raise LogErrors(problems)
    assert header is not None
    return LoadedLog(header=header, records=tuple(records))


def _decode_with(
    decoders: Mapping[str, Callable[[int, Mapping[str, object]], Event]], line: int, text: str
) -> Record:
    data = _json_object(line, text)
    seq = _field(line, data, "seq", int)
    ts = str(_field(line, data, "ts", str))
    _parse_ts(line, ts)
    kind = str(_field(line, data, "type", str))
    decoder = decoders.get(kind)
    if decoder is None:
        raise EventLogError(
            line, f"unknown event type {kind!r} (known: {', '.join(sorted(decoders))})"
        )
    assert isinstance(seq, int)
    return Record(seq=seq, ts=ts, event=decoder(line, data))


class LogErrors(EventLogError):
    """Several bad lines of one log; ``str()`` is one ``line N: ...`` per problem."""

    def __init__(self, problems: list[EventLogError]) -> None:
        first = problems[0]
        super().__init__(first.line, first.reason)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(f"line {p.line}: {p.reason}" for p in self.problems)


def read_log(path: Path) -> LoadedLog:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read event log {path}: {exc.strerror}") from exc
    lines: list[str] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise EventLogError(number, f"not valid UTF-8 at byte {exc.start}") from exc
    return read_lines(iter(lines))


# ---------------------------------------------------------------------------------------------
# Recording


class EventRecorder:
    """Appends processed events to ``<directory>/events.jsonl``, rotating by size.

    When the current file would exceed ``max_bytes`` it becomes ``events.jsonl.1`` (older ones
    shift up to ``.<backups>``, the oldest is dropped) and a new file with a fresh header starts.
    """

    def __init__(
        self,
        directory: Path,
        header: Header,
        *,
        max_bytes: int,
        backups: int,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.directory = directory
        self.header = header
        self.max_bytes = max_bytes
        self.backups = backups
        self.clock = clock
        self.path = directory / "events.jsonl"
        directory.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = None
        self._size = 0
        self._open_new()

    def _open_new(self) -> None:
        self._fh = open(self.path, "w", encoding="utf-8", opener=private.opener)  # noqa: SIM115
        self._size = 0
        self._write(json.dumps(self.header.to_json(), sort_keys=True, separators=(",", ":")))

    def _write(self, line: str) -> None:
        assert self._fh is not None
        data = line + "\n"
        self._fh.write(data)
        self._fh.flush()
        self._size += len(data.encode("utf-8"))

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open_new()

    def record(self, seq: int, event: Event) -> None:
        try:
            line = encode_line(seq, self.clock(), event)
        except EventLogError as exc:
            log.warning("event_not_recorded", event_seq=seq, error=exc.reason)
            return
        if self._size + len(line) + 1 > self.max_bytes and self._size > 0:
            self._rotate()
        self._write(line)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
