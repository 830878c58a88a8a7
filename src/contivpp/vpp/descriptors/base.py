"""What every VPP descriptor shares: the injected client, error policy, checks, read-back.

Three rules keep the descriptors small and a resync free of needless writes:

* **Values are canonical.** ``validate`` rejects a key that is not the one built from the value
  and addresses / MACs not written the way VPP reports them back (``10.1.1.0/24``, lower-case
  MACs), so a value read back from VPP compares equal to the requested one.
* **Read-back prefers the believed value.** ``retrieve`` builds what VPP really holds; when the
  scheduler's believed value for that key is ``equivalent`` to it (it differs only where VPP
  chose for us: a random MAC, the default MTU, address order), the believed value is returned
  as is. A no-drift resync therefore sees identical values and writes nothing.
* **Deletes are idempotent.** Deleting what VPP no longer has succeeds (the goal is reached),
  and an error is retried only when VPP's ``retval`` says the state may still change. In-place
  updates made of several calls are idempotent the same way (``call_exists_ok``), so their retry
  can finish what a failed attempt started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from contivpp.errors import InvalidValueError, VPPApiError, VPPError
from contivpp.reconcile.api import Correlated, Descriptor, Key, Retrieved
from contivpp.vpp import retvals as rv
from contivpp.vpp.client import Message, VPPClient
from contivpp.vpp.ifindex import InterfaceIndex

V = TypeVar("V")
M = TypeVar("M")

#: VPP's "no index" / "all" value of u32 fields.
NO_INDEX = 0xFFFFFFFF
#: Tags (``string tag[64]``) hold at most 63 bytes.
MAX_TAG = 63
#: Retvals meaning "nothing of that kind to delete".
GONE = frozenset({rv.INVALID_SW_IF_INDEX, rv.NO_SUCH_ENTRY, rv.ADDRESS_NOT_FOUND_FOR_INTERFACE})
#: Retvals meaning "that is there already".
EXISTS = frozenset({rv.VALUE_EXIST})

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class VppDescriptor(Descriptor[V, M]):
    """A descriptor that talks to VPP through the injected client."""

    def __init__(self, client: VPPClient) -> None:
        self.client = client

    @property
    def interfaces(self) -> InterfaceIndex:
        """Logical interface name <-> sw_if_index, shared by all descriptors of one client."""
        return self.client.interfaces

    def key_of(self, value: V) -> Key:
        """The one key this value may have."""
        raise NotImplementedError

    def check(self, key: Key, value: V) -> None:
        """Kind-specific validation; raise :func:`invalid` errors."""

    def validate(self, key: Key, value: V) -> None:
        expected = self.key_of(value)
        if key != expected:
            raise InvalidValueError(key, f"the value's key is {expected}")
        self.check(key, value)

    def is_retriable(self, error: BaseException) -> bool:
        # Only VPP knows whether a failure can heal (retvals.py); anything else is a bug or a
        # value VPP cannot take, and retrying it would only repeat the failure.
        return isinstance(error, VPPError) and error.retriable

    async def call(self, name: str, /, **fields: Any) -> Message:
        return await self.client.call(name, **fields)

    async def call_gone_ok(self, name: str, /, **fields: Any) -> None:
        """A delete call that also succeeds when VPP no longer has the object."""
        await self._call_done_ok(GONE, name, fields)

    async def call_exists_ok(self, name: str, /, **fields: Any) -> None:
        """An add call that also succeeds when VPP has the object already.

        Only for objects VPP identifies by everything the call sets: a retry after a partial
        failure (or a lost reply) then finds its own earlier work done instead of failing on it.
        """
        await self._call_done_ok(EXISTS, name, fields)

    async def _call_done_ok(self, done: frozenset[int], name: str, fields: dict[str, Any]) -> None:
        try:
            await self.client.call(name, **fields)
        except VPPApiError as exc:
            if exc.retval not in done:
                raise

    def prefer_believed(
        self, correlate: Sequence[Correlated], found: Iterable[tuple[Key, V, M | None]]
    ) -> list[Retrieved]:
        """``Retrieved`` items, using the believed value wherever VPP's is equivalent to it."""
        believed = {item.key: item.value for item in correlate}
        out: list[Retrieved] = []
        seen: set[Key] = set()
        for key, actual, metadata in found:
            if key in seen:
                continue  # a duplicate in VPP (e.g. two interfaces with one tag): first wins
            seen.add(key)
            want = believed.get(key)
            value: object = actual
            if want is not None:
                with contextlib.suppress(Exception):
                    if self.equivalent(key, actual, want):  # type: ignore[arg-type]
                        value = want
            out.append(Retrieved(key=key, value=value, metadata=metadata))
        return out


# ---- checks ------------------------------------------------------------------------------


def invalid(key: Key, field: str, reason: str) -> InvalidValueError:
    return InvalidValueError(key, f"{field}: {reason}", (field,))


def check_tag(key: Key, field: str, text: str) -> None:
    """Text stored as a VPP tag: at most 63 bytes (VPP keeps 64 with the NUL)."""
    if len(text.encode()) > MAX_TAG:
        raise invalid(key, field, f"{text!r} is longer than {MAX_TAG} bytes (VPP tag limit)")


def check_name(key: Key, field: str, name: str) -> None:
    """A logical name stored as a VPP tag: non-empty, at most 63 bytes."""
    if not name:
        raise invalid(key, field, "must not be empty")
    check_tag(key, field, name)


def check_mac(key: Key, field: str, mac: str) -> None:
    if not _MAC.match(mac):
        raise invalid(key, field, f"{mac!r} is not a lower-case MAC like 02:fe:00:00:00:01")


def _ipv4_int(text: str) -> int | None:
    """A canonical dotted quad as an int, else None; ~10x faster than ``ipaddress`` on the
    hot path (every route and neighbour of a big transaction is validated)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not part.isdigit() or (len(part) > 1 and part[0] == "0") or int(part) > 255:
            return None
        value = value << 8 | int(part)
    return value


def check_ip(key: Key, field: str, ip: str) -> None:
    if _ipv4_int(ip) is not None:
        return
    try:
        canonical = str(ipaddress.ip_address(ip))
    except ValueError:
        raise invalid(key, field, f"{ip!r} is not an IP address") from None
    if canonical != ip:
        raise invalid(key, field, f"write {ip!r} as {canonical!r}")


def check_cidr(key: Key, field: str, cidr: str, *, host_bits: bool) -> None:
    """An address with its prefix length (``host_bits``) or a network (no host bits)."""
    address, _, length = cidr.partition("/")
    value = _ipv4_int(address)
    if value is not None and length.isdigit() and (length == "0" or length[0] != "0"):
        bits = int(length)
        if bits <= 32 and (host_bits or value & ((1 << (32 - bits)) - 1) == 0):
            return
    try:
        canonical = str(ipaddress.ip_interface(cidr) if host_bits else ipaddress.ip_network(cidr))
    except ValueError:
        what = "an address/length" if host_bits else "a network without host bits"
        raise invalid(key, field, f"{cidr!r} is not {what}") from None
    if "/" not in cidr or canonical != cidr:
        raise invalid(key, field, f"write {cidr!r} as {canonical!r}")


def check_range(key: Key, field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise invalid(key, field, f"{value} is outside {low}..{high}")
