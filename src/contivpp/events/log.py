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

import attrs
import structlog

from contivpp.config import AgentConfig, is_ipv4
from contivpp.errors import ConfigError, EventLogError, K8sObjectError
from contivpp.events import k8s
from contivpp.events.types import (
    AllocatorPositionRestored,
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
        case AllocatorPositionRestored(ip=ip):
            return {"type": "ipam.position", "ip": ip}
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
            ip = _ipv4_field(line, data, "ip")
            return CNIAdd(container_id, netns, ifname, namespace, name, ip=ip)
        return cls(container_id, netns, ifname, namespace, name)

    return decode


def _ipv4_field(line: int, data: Mapping[str, object], name: str) -> str:
    value = str(_field(line, data, name, str))
    if not is_ipv4(value):
        raise EventLogError(line, f"field {name!r} is not an IPv4 address: {value!r}")
    return value


def _decode_position(line: int, data: Mapping[str, object]) -> Event:
    return AllocatorPositionRestored(_ipv4_field(line, data, "ip"))


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
    "ipam.position": _decode_position,
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
    #: Problems that did not stop the read (a last line cut by a killed writer).
    warnings: tuple[str, ...] = ()


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
    """Read a log file. A last line cut short by a killed writer is dropped with a warning.

    Only the last line, only without its newline, and only if it does not parse: a line that
    was completely written (newline included) and is still bad is an error like any other.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read event log {path}: {exc.strerror}") from exc
    pieces = data.split(b"\n")
    cut = pieces.pop()  # b"" when the file ends with a newline, as a completed write does
    lines = [_utf8(number, raw) for number, raw in enumerate(pieces, start=1)]
    warnings: tuple[str, ...] = ()
    if cut:
        number = len(pieces) + 1
        if _is_complete_line(cut):
            lines.append(cut.decode("utf-8"))
        else:
            warnings = (
                f"line {number}: last line is incomplete (the writer was killed mid-line); ignored",
            )
    loaded = read_lines(iter(lines))
    return attrs.evolve(loaded, warnings=warnings)


def _utf8(number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventLogError(number, f"not valid UTF-8 at byte {exc.start}") from exc


def _is_complete_line(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Recording


def write_all(fd: int, data: bytes) -> None:
    """Write every byte (``os.write`` may write less); unbuffered, so nothing is pending."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _seq_of(raw: bytes) -> int | None:
    try:
        data = json.loads(raw)
    except ValueError:  # also UnicodeDecodeError: a line cut inside a character
        return None
    seq = data.get("seq") if isinstance(data, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def last_seq(path: Path, block: int = 1 << 16) -> int | None:
    """The seq of the last readable event line of a log file, reading it from the end.

    Only the tail is read (a log is up to ``max_bytes`` large and this runs at every start);
    a cut last line or a header-only file is skipped over, not an error.
    """
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    with fh:
        pos = fh.seek(0, os.SEEK_END)
        partial = b""
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            pieces = (fh.read(pos - start) + partial).split(b"\n")
            pos = start
            # The first piece may continue in the block before this one: look at it later.
            partial = pieces.pop(0) if pos > 0 else b""
            for raw in reversed(pieces):
                seq = _seq_of(raw)
                if seq is not None:
                    return seq
    return None


class EventRecorder:
    """Appends processed events to ``<directory>/events.jsonl``, rotating by size and on start.

    When the current file would exceed ``max_bytes`` it becomes ``events.jsonl.1`` (older ones
    shift up to ``.<backups>``, older than that are dropped) and a new file with a fresh header
    starts. A new recorder (an agent start) rotates the same way first, so the history before a
    crash is kept, and numbers its events after the last seq found in the kept files: seqs grow
    through the whole file set even if the bus that feeds it starts again at 1 (give the bus
    :attr:`next_seq` to keep the two numberings equal). Files are 0600 and the directory the
    recorder creates 0700, whatever the umask: events carry pod names, addresses and objects.
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
        self._fd: int | None = None
        self._size = 0
        self._offset: int | None = None
        try:
            self._last_seq = self._start()
        except OSError as exc:
            # At start a log that cannot be written is a setup mistake: say so, in one line.
            raise ConfigError(
                f"eventLog.directory: cannot write the event log in {directory}: "
                f"{exc.strerror or exc}"
            ) from exc

    def _start(self) -> int:
        """Rotate what a previous run left and open a new file; the last seq kept, or 0."""
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o700)
        kept = self._kept_files()
        for path in kept:
            path.chmod(0o600)  # written by an older version, or by hand
        found = next((s for s in map(last_seq, kept) if s is not None), 0)
        if kept and kept[0] == self.path:
            self._rotate()
        else:
            self._open_new()
        return found

    @property
    def next_seq(self) -> int:
        """The seq the next event must have to continue the kept files."""
        return self._last_seq + 1

    def _backup(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")

    def _kept_files(self) -> list[Path]:
        """``events.jsonl`` (if any) then its backups, newest first, up to the first gap."""
        files = [self.path] if self.path.exists() else []
        index = 1
        while self._backup(index).exists():
            files.append(self._backup(index))
            index += 1
        return files

    def _open_new(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)  # the umask may have taken bits off, a reused file may have more
        self._fd = fd
        self._size = 0
        self._write(json.dumps(self.header.to_json(), sort_keys=True, separators=(",", ":")))

    def _write(self, line: str) -> None:
        assert self._fd is not None
        data = (line + "\n").encode("utf-8")
        write_all(self._fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        self.close()
        kept = self._kept_files()
        for path in kept[1:][self.backups :][::-1]:
            path.unlink()  # beyond the configured number (it may have been lowered)
        for index in range(min(len(kept) - 1, self.backups - 1), 0, -1):
            os.replace(self._backup(index), self._backup(index + 1))
        if self.backups > 0:
            os.replace(self.path, self._backup(1))
        self._open_new()

    def record(self, seq: int, event: Event) -> None:
        """Append one event. Never raises: a log that cannot be written must not stop the
        event from being applied (and a CNI caller from getting its answer)."""
        if self._offset is None:
            # A bus started at 1 after a restart would repeat seqs already in the kept files.
            self._offset = max(0, self.next_seq - seq)
        seq += self._offset
        try:
            line = encode_line(seq, self.clock(), event)
        except EventLogError as exc:
            log.warning("event_not_recorded", event_seq=seq, error=exc.reason)
            return
        try:
            if self._fd is None or (self._size + len(line) + 1 > self.max_bytes and self._size):
                self._rotate()
            self._write(line)
        except OSError as exc:
            log.error("event_not_recorded", event_seq=seq, error=str(exc))
            # Part of the line may be on disk: the next event starts a new file, so the cut
            # line is the last of its file, which readers accept.
            self.close()
            return
        self._last_seq = seq

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
