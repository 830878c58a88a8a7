"""A VPP client that answers every call at once, for descriptor tests that need no simulator.

Descriptors only reach VPP through ``VPPClient.call`` / ``dump`` and read ``interfaces``; this
stand-in records the calls, so unit tests can drive the real descriptors through the real
scheduler and count what they would send.
"""

from __future__ import annotations

from typing import Any, cast

from contivpp.vpp.client import VPPClient
from contivpp.vpp.ifindex import InterfaceIndex


class RecordingClient:
    def __init__(self) -> None:
        self.interfaces = InterfaceIndex()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.generation = 0  # bumped by a real client when VPP restarts

    async def call(self, name: str, /, **fields: Any) -> None:
        self.calls.append((name, fields))

    async def dump(self, name: str, /, **fields: Any) -> list[object]:
        return []


def recording_client() -> tuple[VPPClient, RecordingClient]:
    """The same object twice: typed as the client the descriptors take, and as the recorder."""
    recorder = RecordingClient()
    return cast(VPPClient, recorder), recorder
