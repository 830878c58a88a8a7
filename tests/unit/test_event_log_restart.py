"""The event log across agent restarts and crashes (issue 14, defects 3 and 8, item 10).

A restart must keep the history before it (that is when it is needed), seqs must keep growing
through the kept files, a kill -9 that cuts the last line must not make the whole log
unreadable, and the files must not be world-readable.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from contivpp.config import AgentConfig
from contivpp.errors import ConfigError, EventLogError
from contivpp.events import log as log_module
from contivpp.events.log import EventRecorder, Header, encode_line, read_lines, read_log
from contivpp.events.types import CNIAdd, VPPRestarted

TS = "2026-11-29T12:00:00.000000Z"
HEADER_LINE = '{"config":{},"format":"contivpp-events/1","node":"n1"}'


def recorder(directory: Path, *, backups: int = 3, max_bytes: int = 1 << 20) -> EventRecorder:
    return EventRecorder(
        directory,
        Header("n1", AgentConfig("n1")),
        max_bytes=max_bytes,
        backups=backups,
        clock=lambda: TS,
    )


def add(n: int) -> CNIAdd:
    return CNIAdd(f"c{n}", "/var/run/netns/x", "eth0", "d", f"p{n}")


def kept_seqs(directory: Path) -> list[int]:
    """Seqs of all kept files, oldest file first (the order an operator concatenates them)."""
    files = sorted(
        directory.glob("events.jsonl*"),
        key=lambda p: -int(p.suffix[1:]) if p.suffix != ".jsonl" else 0,
    )
    return [r.seq for path in files for r in read_log(path).records]


def next_seq_on_start(directory: Path) -> int:
    rec = recorder(directory)
    rec.close()
    return rec.next_seq


def run(directory: Path, seqs: range, **kwargs: int) -> None:
    """One agent run: a fresh bus numbers its events from 1 unless told the recorder's next."""
    rec = recorder(directory, **kwargs)
    for seq in seqs:
        rec.record(seq, add(seq))
    rec.close()


def test_a_restart_keeps_the_previous_run(tmp_path: Path) -> None:
    run(tmp_path, range(1, 4))
    run(tmp_path, range(1, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "events.jsonl.1"]
    previous = read_log(tmp_path / "events.jsonl.1")
    assert [r.event for r in previous.records] == [add(1), add(2), add(3)]
    # The second run's bus started at 1 again; its events are still numbered after the first's.
    assert kept_seqs(tmp_path) == [1, 2, 3, 4, 5]


def test_the_recorder_tells_the_bus_where_to_start(tmp_path: Path) -> None:
    assert next_seq_on_start(tmp_path) == 1
    run(tmp_path, range(1, 8))
    rec = recorder(tmp_path)
    assert rec.next_seq == 8
    rec.record(8, VPPRestarted())  # a bus started at next_seq: recorded as is
    rec.record(9, VPPRestarted())
    rec.close()
    assert kept_seqs(tmp_path) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_restarts_keep_the_configured_number_of_files(tmp_path: Path) -> None:
    for _ in range(5):
        run(tmp_path, range(1, 3), backups=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert kept_seqs(tmp_path) == [5, 6, 7, 8, 9, 10]


def test_last_seq_is_found_in_an_older_file_when_the_newest_has_only_a_header(
    tmp_path: Path,
) -> None:
    run(tmp_path, range(1, 5))
    run(tmp_path, range(1, 1))  # crashed before processing anything: a header only
    assert next_seq_on_start(tmp_path) == 5


def test_last_seq_skips_a_line_cut_by_kill_9(tmp_path: Path) -> None:
    run(tmp_path, range(1, 4))
    with (tmp_path / "events.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(encode_line(4, TS, add(4))[:25])  # no newline: the write was cut
    assert next_seq_on_start(tmp_path) == 4
    # The cut file was kept as it was (history is not rewritten) and still reads.
    assert [r.seq for r in read_log(tmp_path / "events.jsonl.1").records] == [1, 2, 3]


def test_last_seq_is_found_behind_a_long_line(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.record(41, add(41))
    long_pod = CNIAdd("c" * 200_000, "/var/run/netns/x", "eth0", "d", "big")
    rec.record(42, long_pod)
    rec.close()
    assert next_seq_on_start(tmp_path) == 43


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_files_are_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    directory = tmp_path / "log"
    run(directory, range(1, 200), max_bytes=2000, backups=2)
    run(directory, range(1, 3), max_bytes=2000, backups=2)
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_an_existing_world_readable_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(HEADER_LINE + "\n", encoding="utf-8")
    path.chmod(0o644)
    recorder(tmp_path).close()
    assert stat.S_IMODE((tmp_path / "events.jsonl.1").stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------------------
# Reading


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_cut_last_line_is_accepted_with_a_warning(tmp_path: Path) -> None:
    good = [encode_line(s, TS, add(s)) for s in (1, 2)]
    cut = encode_line(3, TS, add(3))[:40]
    loaded = read_log(write(tmp_path / "e", "\n".join([HEADER_LINE, *good, cut])))
    assert [r.seq for r in loaded.records] == [1, 2]
    assert loaded.warnings == (
        "line 4: last line is incomplete (the writer was killed mid-line); ignored",
    )


def test_a_cut_multibyte_character_on_the_last_line_is_accepted(tmp_path: Path) -> None:
    line = encode_line(1, TS, CNIAdd("c", "/var/run/netns/x", "eth0", "d", "pöd"))
    data = (HEADER_LINE + "\n").encode() + line.encode()[: line.encode().index("ö".encode()) + 1]
    (tmp_path / "e").write_bytes(data)
    loaded = read_log(tmp_path / "e")
    assert loaded.records == () and len(loaded.warnings) == 1


def test_a_complete_last_line_without_newline_is_read(tmp_path: Path) -> None:
    text = "\n".join([HEADER_LINE, encode_line(1, TS, add(1))])
    loaded = read_log(write(tmp_path / "e", text))
    assert [r.seq for r in loaded.records] == [1] and loaded.warnings == ()


def test_a_bad_line_in_the_middle_is_still_an_error(tmp_path: Path) -> None:
    cut = encode_line(2, TS, add(2))[:40]
    text = "\n".join([HEADER_LINE, encode_line(1, TS, add(1)), cut, encode_line(3, TS, add(3))])
    with pytest.raises(EventLogError, match=r"^line 3: invalid JSON"):
        read_log(write(tmp_path / "e", text + "\n"))


def test_a_bad_last_line_that_was_completely_written_is_an_error(tmp_path: Path) -> None:
    text = "\n".join([HEADER_LINE, encode_line(1, TS, add(1)), '{"seq": 2'])
    with pytest.raises(EventLogError, match=r"^line 3: invalid JSON"):
        read_log(write(tmp_path / "e", text + "\n"))


def test_a_decreasing_seq_is_rejected() -> None:
    lines = [HEADER_LINE, encode_line(5, TS, add(5)), encode_line(3, TS, add(3))]
    with pytest.raises(EventLogError) as info:
        read_lines(iter(lines))
    assert str(info.value) == "line 3: seq 3 is not greater than previous seq 5"


def test_header_line_is_what_the_recorder_writes(tmp_path: Path) -> None:
    recorder(tmp_path).close()
    first = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(first)["format"] == "contivpp-events/1"


def test_a_failed_write_loses_one_event_not_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = recorder(tmp_path)
    rec.record(1, add(1))
    real = log_module.write_all

    def disk_full(fd: int, data: bytes) -> None:
        real(fd, data[:20])  # part of the line made it to the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(log_module, "write_all", disk_full)
    with structlog.testing.capture_logs() as logs:
        rec.record(2, add(2))  # must not raise: the event is still applied and answered
    monkeypatch.setattr(log_module, "write_all", real)
    rec.record(3, add(3))
    rec.close()
    assert logs == [
        {
            "event": "event_not_recorded",
            "event_seq": 2,
            "error": "[Errno 28] No space left on device",
            "log_level": "error",
        }
    ]
    # The cut line ends the older file, where a reader accepts it; the next event starts anew.
    assert kept_seqs(tmp_path) == [1, 3]
    assert len(read_log(tmp_path / "events.jsonl.1").warnings) == 1


def test_a_directory_that_cannot_hold_the_log_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        recorder(tmp_path / "file" / "events")
    assert str(info.value) == (
        f"eventLog.directory: cannot write the event log in {tmp_path / 'file' / 'events'}: "
        "Not a directory"
    )
