"""The socket transport's framing and the simulator's message table.

VPP frames every message with a 16-byte header (``q`` u64, ``data_len`` u32 big-endian,
``gc_mark_timestamp`` u32) and identifies messages by per-instance u16 ids that it announces in
the ``sockclnt_create`` handshake. This module assigns those ids the way VPP does (memclnt fixed
at 1..28 in file order, every other module a contiguous block after it) and packs / unpacks
bodies with vpp_papi's serializer, so the bytes on the wire are exactly what a real VPP sends.
"""

from __future__ import annotations

import struct
from typing import Any

from contivpp.vpp.apidefs import MEMCLNT_MODULE, ApiDefinitions, MessageDef

HEADER = struct.Struct(">QII")
HEADER_SIZE = HEADER.size
#: Longest body the simulator accepts; a larger length means the stream is corrupt.
MAX_BODY = 64 * 1024 * 1024

#: vpp_papi hard-codes these two ids (it sends the handshake before it has a table).
SOCKCLNT_CREATE_ID = 15
SOCKCLNT_CREATE_REPLY_ID = 16

_MSG_ID = struct.Struct(">H")
# Offsets of ``context`` in a request body: after u16 id + u32 client_index, except in
# sockclnt_create, which has no client_index.
_CONTEXT = struct.Struct(">I")


class DecodeError(ValueError):
    """A body that cannot be decoded with its message definition."""


def frame(body: bytes) -> bytes:
    """Prefix ``body`` with the socket header (q and timestamp sent as 0)."""
    return HEADER.pack(0, len(body), 0) + body


def body_length(header: bytes) -> int:
    _, length, _ = HEADER.unpack(header)
    return int(length)


class MessageTable:
    """Message ids for one simulator instance, and encode / decode by name."""

    def __init__(self, defs: ApiDefinitions) -> None:
        self.defs = defs
        self.ids: dict[str, int] = {}
        self.by_id: dict[int, MessageDef] = {}
        next_id = 1
        for module in defs.module_order:
            for name in defs.module_messages[module]:
                self.ids[name] = next_id
                self.by_id[next_id] = defs.messages[name]
                next_id += 1
        if (
            self.ids.get("sockclnt_create") != SOCKCLNT_CREATE_ID
            or self.ids.get("sockclnt_create_reply") != SOCKCLNT_CREATE_REPLY_ID
        ):
            raise ValueError(f"{MEMCLNT_MODULE} does not put sockclnt_create at id 15")
        #: ``sockclnt_create_reply.message_table`` entries.
        self.entries: list[dict[str, Any]] = [
            {"index": i, "name": d.name_crc} for i, d in sorted(self.by_id.items())
        ]

    def encode(self, name: str, fields: dict[str, Any]) -> bytes:
        """Pack message ``name`` with ``fields`` (missing fields are 0 / their default)."""
        fields["_vl_msg_id"] = self.ids[name]
        return bytes(self.defs.messages[name].codec.pack(fields))

    def lookup(self, body: bytes) -> MessageDef | None:
        if len(body) < _MSG_ID.size:
            return None
        (msg_id,) = _MSG_ID.unpack_from(body)
        return self.by_id.get(msg_id)

    @staticmethod
    def decode(mdef: MessageDef, body: bytes) -> Any:
        """Unpack without type conversion, so addresses keep every bit as sent."""
        try:
            decoded, _ = mdef.codec.unpack(body, ntc=True)
        except Exception as exc:  # vpp_papi raises struct.error, ValueError, IndexError ...
            raise DecodeError(f"{mdef.name}: {exc}") from exc
        return decoded

    @staticmethod
    def raw_context(mdef: MessageDef, body: bytes) -> int | None:
        """The request's context read straight from the bytes (for undecodable requests)."""
        if "context" not in mdef.fields:
            return None
        offset = 2 if "client_index" not in mdef.fields else 6
        if len(body) < offset + 4:
            return None
        (context,) = _CONTEXT.unpack_from(body, offset)
        return int(context)
