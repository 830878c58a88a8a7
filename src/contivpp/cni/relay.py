"""The wire format between ``contivpp-cni`` and the agent: length-prefixed fields, no JSON.

The per-pod binary must not import ``json`` (~7 ms at start-up on our machines, a third of its
exec time), so a request is a list of named byte strings and a reply is an exit status plus
the exact bytes to print. Only the standard library's built-in modules are used here.

Request: ``CNI1\\n`` then, per field, ``<name> <length>\\n<bytes>\\n``; the fields are the
``CNI_*`` environment variables and ``stdin``. Reply: ``<exit status>\\n<stdout bytes>``.
"""

from __future__ import annotations

MAGIC = b"CNI1\n"
FIELDS = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
#: The largest request (network config + ``CNI_*`` variables, framed) the agent accepts,
#: documented in docs/cni.md and docs/agent.md; both sides check it.
MAX_REQUEST = 1 << 20
#: ``timeoutSeconds`` of the network config: (0, one day]; more overflows the socket timeout.
MAX_TIMEOUT = 86400.0
TIMEOUT_RANGE = f"network config field 'timeoutSeconds' must be > 0 and <= {MAX_TIMEOUT:g}"


class RelayError(ValueError):
    """A malformed relay message."""


def too_large(size: int) -> str:
    """The error message for an oversized request (the spec's invalid network config)."""
    return (
        f"request too large: {size} bytes of network config and CNI_* variables, "
        f"the limit is {MAX_REQUEST} bytes (1 MiB)"
    )


def encode_request(fields: dict[str, bytes]) -> bytes:
    parts = [MAGIC]
    for name, value in fields.items():
        parts.append(b"%s %d\n" % (name.encode(), len(value)))
        parts.append(value)
        parts.append(b"\n")
    return b"".join(parts)


def decode_request(data: bytes) -> dict[str, bytes]:
    if not data.startswith(MAGIC):
        raise RelayError("not a contivpp CNI relay request")
    fields: dict[str, bytes] = {}
    pos = len(MAGIC)
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            raise RelayError("truncated field header")
        name, _, size = data[pos:end].partition(b" ")
        if not size.isdigit():
            raise RelayError(f"bad field header {data[pos:end][:40]!r}")
        start, stop = end + 1, end + 1 + int(size)
        if data[stop : stop + 1] != b"\n":
            raise RelayError(f"field {name.decode(errors='replace')!r} is truncated")
        fields[name.decode(errors="replace")] = data[start:stop]
        pos = stop + 1
    return fields


def request_complete(data: bytes) -> bool:
    """True once ``data`` holds a whole request (so the server knows when to stop reading)."""
    try:
        return "stdin" in decode_request(data)
    except RelayError:
        return False


def encode_reply(code: int, stdout: str) -> bytes:
    return b"%d\n" % code + stdout.encode("utf-8")


def decode_reply(data: bytes) -> tuple[int, bytes]:
    head, sep, body = data.partition(b"\n")
    if not sep or not head.lstrip(b"-").isdigit():
        raise RelayError("malformed reply from the agent")
    return int(head), body


def _config_value(stdin: bytes, name: str) -> bytes:
    """The raw text after ``"name":`` in the network config (b"" when absent)."""
    key = b'"' + name.encode() + b'"'
    at = stdin.find(key)
    if at < 0:
        return b""
    rest = stdin[at + len(key) :].lstrip()
    return rest[1:].lstrip() if rest.startswith(b":") else b""


def config_number(stdin: bytes, name: str) -> float | None:
    """A top-level number field of the network config, found without a JSON parser."""
    rest = _config_value(stdin, name)
    end = 0
    while end < len(rest) and rest[end : end + 1] in b"0123456789.":
        end += 1
    try:
        return float(rest[:end]) if end else None
    except ValueError:
        return None


def config_string(stdin: bytes, name: str) -> str:
    """A top-level string field of the network config, found without a JSON parser.

    Good enough for paths and version strings (no escapes); returns "" when the field is
    absent or not a plain string, and the caller then uses its default.
    """
    rest = _config_value(stdin, name)
    if not rest.startswith(b'"'):
        return ""
    end = rest.find(b'"', 1)
    value = rest[1:end] if end > 0 else b""
    return "" if b"\\" in value else value.decode("utf-8", errors="replace")
