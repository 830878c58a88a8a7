"""VPP's ``retval`` codes: their names, and which failures are worth retrying.

A reply with ``retval != 0`` becomes :class:`contivpp.errors.VPPApiError`. The scheduler retries
an error when ``retriable`` is true, so the split below decides whether a failed operation waits
for the world to change or is reported as terminal. The rule: a code is retriable when it
describes *state* that another operation (in the same transaction, a later one, or outside the
agent such as a CNI creating a network namespace) can change — a missing dependency, a conflict
with an object that is about to go away, a transient host or resource condition. A code that says
the *request itself* is wrong (bad value, unsupported combination) fails the same way every time
and is not retriable; neither is a code we do not know. Values come from VPP's
``src/vnet/error.h`` (see ``shared/reference/vpp-socket-protocol.md`` section 12).
"""

from __future__ import annotations

import attrs

from contivpp.errors import VPPApiError


@attrs.frozen
class Retval:
    """One VPP error code."""

    value: int
    name: str
    retriable: bool


# (value, name, retriable). Why each retriable one is: see the comment on its group.
_CODES: tuple[tuple[int, str, bool], ...] = (
    # A missing object that a dependency may still create (interface, VRF, entry, next hop).
    (-2, "INVALID_SW_IF_INDEX", True),
    (-3, "NO_SUCH_FIB", True),
    (-4, "NO_SUCH_INNER_FIB", True),
    (-6, "NO_SUCH_ENTRY", True),
    (-10, "INVALID_SW_IF_INDEX_2", True),
    (-54, "NO_MATCHING_INTERFACE", True),
    (-65, "NO_SUCH_TABLE", True),
    # Host-side (syscall / netlink) failures: e.g. a tap's network namespace not created yet.
    (-11, "SYSCALL_ERROR_1", True),
    (-12, "SYSCALL_ERROR_2", True),
    (-13, "SYSCALL_ERROR_3", True),
    (-14, "SYSCALL_ERROR_4", True),
    (-15, "SYSCALL_ERROR_5", True),
    (-145, "NETLINK_ERROR", True),
    # Conflicts with an existing object that an operation in flight may still remove or move.
    (-71, "INVALID_INTERFACE", True),
    (-75, "TUNNEL_EXIST", True),
    (-79, "IF_ALREADY_EXISTS", True),
    (-81, "VALUE_EXIST", True),
    (-105, "ADDRESS_IN_USE", True),
    (-114, "ADDRESS_FOUND_FOR_INTERFACE", True),
    (-116, "ENTRY_ALREADY_EXISTS", True),
    (-119, "BD_ALREADY_EXISTS", True),
    (-120, "BD_IN_USE", True),
    (-127, "DUPLICATE_IF_ADDRESS", True),
    (-142, "ACL_IN_USE_INBOUND", True),
    (-143, "ACL_IN_USE_OUTBOUND", True),
    (-147, "INSTANCE_IN_USE", True),
    (-152, "BD_ALREADY_HAS_BVI", True),
    # VPP explicitly asks to try again.
    (-77, "RESPONSE_NOT_READY", True),
    (-107, "QUEUE_FULL", True),
    (-165, "EAGAIN", True),
    # The request is wrong or unsupported: the same call fails the same way every time.
    (-1, "UNSPECIFIED", False),
    (-5, "NO_SUCH_LABEL", False),
    (-7, "INVALID_VALUE", False),
    (-8, "INVALID_VALUE_2", False),
    (-9, "UNIMPLEMENTED", False),
    (-30, "FEATURE_DISABLED", False),
    (-31, "INVALID_REGISTRATION", False),
    (-52, "NO_PATHS_IN_ROUTE", False),
    (-57, "INVALID_SRC_ADDRESS", False),
    (-58, "INVALID_DST_ADDRESS", False),
    (-59, "ADDRESS_LENGTH_MISMATCH", False),
    (-60, "ADDRESS_NOT_FOUND_FOR_INTERFACE", False),
    (-73, "INVALID_ARGUMENT", False),
    (-74, "UNEXPECTED_INTF_STATE", False),
    (-76, "INVALID_DECAP_NEXT", False),
    (-82, "SAME_SRC_DST", False),
    (-97, "INVALID_ADDRESS_FAMILY", False),
    (-121, "BD_NOT_MODIFIABLE", False),
    (-122, "BD_ID_EXCEED_MAX", False),
    (-126, "UNSUPPORTED", False),
    (-150, "INVALID_VALUE_3", False),
    (-151, "NON_ETHERNET", False),
    # "Already in the requested state": retrying cannot change the answer.
    (-169, "FEATURE_ALREADY_DISABLED", False),
    (-170, "FEATURE_ALREADY_ENABLED", False),
    (-171, "INVALID_PREFIX_LENGTH", False),
)

RETVALS: dict[int, Retval] = {v: Retval(v, n, r) for v, n, r in _CODES}

# Names the simulator uses, so handlers read like VPP's C code.
UNSPECIFIED = -1
INVALID_SW_IF_INDEX = -2
NO_SUCH_FIB = -3
NO_SUCH_ENTRY = -6
INVALID_VALUE = -7
INVALID_VALUE_2 = -8
UNIMPLEMENTED = -9
INVALID_SW_IF_INDEX_2 = -10
SYSCALL_ERROR_1 = -11
SYSCALL_ERROR_2 = -12
SYSCALL_ERROR_3 = -13
INVALID_REGISTRATION = -31
NO_PATHS_IN_ROUTE = -52
NO_MATCHING_INTERFACE = -54
INVALID_SRC_ADDRESS = -57
INVALID_DST_ADDRESS = -58
ADDRESS_LENGTH_MISMATCH = -59
ADDRESS_NOT_FOUND_FOR_INTERFACE = -60
INVALID_INTERFACE = -71
TUNNEL_EXIST = -75
IF_ALREADY_EXISTS = -79
INVALID_DECAP_NEXT = -76
VALUE_EXIST = -81
SAME_SRC_DST = -82
ADDRESS_IN_USE = -105
ADDRESS_FOUND_FOR_INTERFACE = -114
ENTRY_ALREADY_EXISTS = -116
BD_ALREADY_EXISTS = -119
BD_IN_USE = -120
BD_NOT_MODIFIABLE = -121
BD_ID_EXCEED_MAX = -122
UNSUPPORTED = -126
ACL_IN_USE_INBOUND = -142
ACL_IN_USE_OUTBOUND = -143
NETLINK_ERROR = -145
INSTANCE_IN_USE = -147
NON_ETHERNET = -151
BD_ALREADY_HAS_BVI = -152
EAGAIN = -165
FEATURE_ALREADY_DISABLED = -169
FEATURE_ALREADY_ENABLED = -170
INVALID_PREFIX_LENGTH = -171


def describe(retval: int) -> Retval:
    """The code's name and retriability; unknown codes are named by value and not retriable."""
    known = RETVALS.get(retval)
    if known is not None:
        return known
    if retval > 0:
        # acl_interface_set_acl_list ORs two internal results into 1: a rejected request.
        return Retval(retval, "FAILED", False)
    return Retval(retval, f"UNKNOWN_{-retval}", False)


def api_error(message: str, retval: int) -> VPPApiError:
    """The error for a ``message`` reply carrying ``retval``."""
    code = describe(retval)
    return VPPApiError(message, retval, code.name, code.retriable)
