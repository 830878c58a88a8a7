"""The STN daemon's memory of what it stole, on disk, so a restarted daemon can give it back.

Once a NIC is taken, the only copy of its addresses and routes is this file: it is written
(atomically, mode 0600, in a 0700 directory) *before* the NIC is touched, and read at start.
A damaged file is an error naming the file and the field, never a silent empty state: that
would strand the node without its network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from contivpp.errors import STNError
from contivpp.stn.nic import NicConfig

FORMAT = "contivpp-stn/1"
FILE_NAME = "stolen.json"


class StolenStore:
    """``<state_dir>/stolen.json``: interface name -> :class:`NicConfig`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def load(self) -> dict[str, NicConfig]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise STNError(f"{self.path}: cannot read: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise STNError(f"{self.path}: not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise STNError(f"{self.path}: field 'format': expected {FORMAT!r}")
        stolen = data.get("interfaces")
        if not isinstance(stolen, dict):
            raise STNError(f"{self.path}: field 'interfaces': expected an object")
        out = {}
        for name, record in stolen.items():
            config = NicConfig.from_json(record, f"{self.path}: interfaces.{name}")
            if config.name != name:
                raise STNError(f"{self.path}: interfaces.{name}: name is {config.name!r}")
            out[name] = config
        return out

    def save(self, stolen: dict[str, NicConfig]) -> None:
        """Replace the file atomically (a crash leaves the old or the new one, never half)."""
        data = {
            "format": FORMAT,
            "interfaces": {name: stolen[name].to_json() for name in sorted(stolen)},
        }
        try:
            _write_atomically(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise STNError(f"{self.path}: cannot write: {exc.strerror or exc}") from exc


def _write_atomically(path: Path, text: str) -> None:
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{path.name}.tmp"
    with open(tmp, "w", encoding="utf-8", opener=_private) as out:
        os.fchmod(out.fileno(), 0o600)  # an old tmp file may have other bits; O_CREAT keeps them
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, 0o600)
