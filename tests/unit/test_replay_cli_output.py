"""``contivpp replay`` as a shell tool: piped into ``head``, and fed a log cut by kill -9."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "three-pods.jsonl"


def test_a_reader_that_goes_away_ends_replay_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` having exited before replay prints anything
    try:
        result = subprocess.run(
            [sys.executable, "-m", "contivpp.cli", "replay", str(EXAMPLE), "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, what a shell shows for a piped tool


def test_head_gets_its_lines_and_replay_no_traceback() -> None:
    result = subprocess.run(
        f"{sys.executable} -m contivpp.cli replay {EXAMPLE} --dry-run | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_a_log_cut_by_kill_9_replays_with_a_warning(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text + text.splitlines()[-1][:30], encoding="utf-8")
    lines = len(text.splitlines()) + 1
    result = subprocess.run(
        [sys.executable, "-m", "contivpp.cli", "replay", str(cut), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    full = subprocess.run(
        [sys.executable, "-m", "contivpp.cli", "replay", str(EXAMPLE), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == full.stdout
    assert result.stderr == (
        f"contivpp replay: warning: line {lines}: last line is incomplete "
        "(the writer was killed mid-line); ignored\n"
    )
