"""The fast IPv4 checks of descriptor validation agree with ``ipaddress`` exactly."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from contivpp.errors import InvalidValueError
from contivpp.reconcile.api import Key
from contivpp.vpp.descriptors.base import check_cidr, check_ip

KEY = Key("test")
octet = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["01", "00", "", "a", "255"]))
address = st.lists(octet, min_size=3, max_size=5).map(".".join)
length = st.one_of(st.integers(0, 40).map(str), st.sampled_from(["", "08", "00", "x"]))
cidr = st.tuples(address, length).map("/".join) | address | st.sampled_from(["::/0", "fe80::1/64"])


def accepted(check: object, *args: object, **kwargs: object) -> bool:
    try:
        check(KEY, "field", *args, **kwargs)  # type: ignore[operator]
    except InvalidValueError:
        return False
    return True


def reference_cidr(text: str, host_bits: bool) -> bool:
    try:
        canon = ipaddress.ip_interface(text) if host_bits else ipaddress.ip_network(text)
    except ValueError:
        return False
    return "/" in text and str(canon) == text


@settings(max_examples=400, deadline=None)
@given(cidr, st.booleans())
def test_check_cidr_matches_ipaddress(text: str, host_bits: bool) -> None:
    assert accepted(check_cidr, text, host_bits=host_bits) == reference_cidr(text, host_bits)


@settings(max_examples=300, deadline=None)
@given(address | st.sampled_from(["::1", "::01", "fe80::1"]))
def test_check_ip_matches_ipaddress(text: str) -> None:
    try:
        expected = str(ipaddress.ip_address(text)) == text
    except ValueError:
        expected = False
    assert accepted(check_ip, text) == expected
