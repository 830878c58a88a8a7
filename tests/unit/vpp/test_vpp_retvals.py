"""retval -> VPPApiError translation and the retriable split."""

from __future__ import annotations

import pytest

from contivpp.errors import VPPApiError
from contivpp.vpp.retvals import RETVALS, api_error, describe


@pytest.mark.parametrize(
    ("retval", "name", "retriable"),
    [
        (-2, "INVALID_SW_IF_INDEX", True),  # a dependency may still create it
        (-3, "NO_SUCH_FIB", True),
        (-12, "SYSCALL_ERROR_2", True),  # e.g. the pod's netns is not there yet
        (-81, "VALUE_EXIST", True),  # conflicting object may be removed by a pending delete
        (-165, "EAGAIN", True),
        (-7, "INVALID_VALUE", False),  # the request itself is wrong
        (-57, "INVALID_SRC_ADDRESS", False),
        (-126, "UNSUPPORTED", False),
        (-170, "FEATURE_ALREADY_ENABLED", False),
    ],
)
def test_known_codes(retval: int, name: str, retriable: bool) -> None:
    err = api_error("some_message", retval)
    assert isinstance(err, VPPApiError)
    assert (err.message, err.retval, err.meaning, err.retriable) == (
        "some_message",
        retval,
        name,
        retriable,
    )
    assert str(err) == f"some_message: retval {retval} ({name})"


def test_unknown_and_positive_codes_are_terminal() -> None:
    assert describe(-999).name == "UNKNOWN_999" and not describe(-999).retriable
    quirk = api_error("acl_interface_set_acl_list", 1)
    assert (quirk.meaning, quirk.retriable) == ("FAILED", False)


def test_every_protocol_doc_code_is_named() -> None:
    # Section 12 of the protocol reference.
    documented = {-1, -2, -3, -6, -7, -8, -12, -13, -31, -52, -54, -57, -58, -59, -60, -71, -75}
    documented |= {-76, -81, -82, -105, -114, -116, -119, -120, -121, -122, -126, -127, -142}
    documented |= {-143, -145, -147, -151, -152, -165, -169, -170, -171}
    assert documented <= RETVALS.keys()
