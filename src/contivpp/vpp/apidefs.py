"""Load the packaged VPP message definitions once, for the client and the simulator alike.

Client and simulator must agree byte for byte on every message, so both take their definitions
from the same JSON files (``contivpp/vpp/api``) through this module. vpp_papi is untyped and
keeps a process-global type registry; this module is the one place that feeds it, and it hands
out typed views (:class:`MessageDef`, :class:`Service`) of what it loaded.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from vpp_papi.vpp_papi import VPPApiJSONFiles

#: Directory holding ``core/*.api.json`` and ``plugins/*.api.json`` (VPP's install layout).
API_DIR = Path(__file__).parent / "api"

#: The module whose messages have fixed ids 1..28 in VPP (``vpp_papi`` hard-codes 15 and 16).
MEMCLNT_MODULE = "memclnt"


@attrs.frozen
class Service:
    """How a request is answered, from the JSON ``services`` table."""

    request: str
    reply: str
    #: True for dumps and new-style streams.
    stream: bool = False
    #: New-style streams name their details message here; old-style dumps end with a ping.
    stream_msg: str | None = None
    events: tuple[str, ...] = ()


@attrs.frozen
class MessageDef:
    """One message definition; ``codec`` is vpp_papi's packer (``pack`` / ``unpack``)."""

    name: str
    crc: str
    fields: tuple[str, ...]
    module: str
    codec: Any = attrs.field(eq=False, repr=False)

    @property
    def name_crc(self) -> str:
        """The identity VPP puts in its message table, e.g. ``control_ping_51077d14``."""
        return f"{self.name}_{self.crc[2:]}"


@attrs.frozen
class ApiDefinitions:
    """Everything loaded from one API directory."""

    api_dir: Path
    messages: Mapping[str, MessageDef]
    services: Mapping[str, Service]
    #: Module names in message-table order: memclnt first, then the rest sorted.
    module_order: tuple[str, ...]
    #: Message names per module, in file order.
    module_messages: Mapping[str, tuple[str, ...]]
    #: The raw JSON text of every module that defines messages (what get_api_json returns).
    module_json: Mapping[str, str] = attrs.field(repr=False)

    def message(self, name: str) -> MessageDef:
        return self.messages[name]

    def service(self, name: str) -> Service | None:
        return self.services.get(name)

    def api_json_array(self) -> str:
        """The ``get_api_json_reply.json`` payload: a JSON array of per-module objects."""
        return "[" + ",".join(self.module_json[m] for m in self.module_order) + "]"


def _service(name: str, raw: Mapping[str, Any]) -> Service:
    return Service(
        request=name,
        reply=str(raw["reply"]),
        stream=bool(raw.get("stream", False)),
        stream_msg=raw.get("stream_msg"),
        events=tuple(raw.get("events", ())),
    )


@functools.cache
def load(api_dir: Path = API_DIR) -> ApiDefinitions:
    """Load (once per directory) every ``*.api.json`` below ``api_dir``."""
    files = sorted(api_dir.rglob("*.api.json"))
    if not files:
        raise FileNotFoundError(f"no *.api.json files below {api_dir}")
    messages: dict[str, MessageDef] = {}
    services: dict[str, Service] = {}
    module_messages: dict[str, tuple[str, ...]] = {}
    module_json: dict[str, str] = {}
    for path in files:
        text = path.read_text()
        raw = json.loads(text)
        module = str(raw["module"])
        # vpp_papi mutates the dict it is given (it prefixes type names), so hand it its own copy.
        codecs, svcs = VPPApiJSONFiles.process_json_str(text)
        names = tuple(str(m[0]) for m in raw["messages"])
        for m in raw["messages"]:
            meta = m[-1]
            fields = tuple(str(f[1]) for f in m[1:] if isinstance(f, list))
            messages[m[0]] = MessageDef(
                name=m[0], crc=str(meta["crc"]), fields=fields, module=module, codec=codecs[m[0]]
            )
        for sname, sraw in svcs.items():
            services[sname] = _service(sname, sraw)
        if names:
            module_messages[module] = names
            # Re-serialise compactly: VPP sends one line per module, not the pretty file.
            module_json[module] = json.dumps(raw, separators=(",", ":"))
    others = sorted(m for m in module_messages if m != MEMCLNT_MODULE)
    return ApiDefinitions(
        api_dir=api_dir,
        messages=messages,
        services=services,
        module_order=(MEMCLNT_MODULE, *others),
        module_messages=module_messages,
        module_json=module_json,
    )
