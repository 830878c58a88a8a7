"""What only root may use: contivpp's unix sockets and the files that name every pod.

Files (``pods.json``, the event log) are opened with :func:`opener`: 0600 whatever the umask,
since they list every pod's sandbox, netns and address. Each socket (the CNI relay socket, the
RemoteCNI gRPC socket, the simulator's VPP API socket) lets its caller create interfaces in any
network namespace as root, so it is created 0600: the umask is narrowed for the bind itself (a
chmod afterwards leaves a window in which a world-writable socket exists). A socket left by a
killed process is replaced at start, and a clean stop removes ours, but never a newer
process's socket bound to the same path since.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

MODE = 0o600


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files created inside are 0600 at most. The umask is per process: keep this short."""
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def opener(path: str, flags: int) -> int:
    """For ``open(..., opener=private.opener)``: a new file is 0600 whatever the umask."""
    fd = os.open(path, flags | os.O_CLOEXEC, MODE)
    os.fchmod(fd, MODE)  # the mode given to os.open is still masked by the umask
    return fd


def prepare(path: Path) -> None:
    """Create the socket's directory and remove a stale socket of a previous process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_socket() or path.is_symlink():
        path.unlink()
    elif path.exists():
        raise FileExistsError(f"{path} exists and is not a socket: not removing it")


def seal(path: Path) -> int:
    """Make the bound socket 0600 (also when bound by a library); return its inode."""
    os.chmod(path, MODE)
    return path.stat().st_ino


def remove(path: Path, inode: int) -> None:
    """Remove the socket if it is still the one we bound (``inode`` from :func:`seal`)."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_ino == inode:
            path.unlink()
