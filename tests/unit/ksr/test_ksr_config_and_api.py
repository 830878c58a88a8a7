"""KSR settings are validated once, by name; the API boundary turns wire data into typed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from contivpp.errors import ConfigError
from contivpp.ksr import KSRConfig
from contivpp.ksr.kubeapi import (
    RESOURCES,
    ApiFailure,
    WatchEvent,
    _failure_from_status,
    _watch_item,
)


def test_config_defaults_and_endpoint_forms(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("{}")
    config = KSRConfig(etcd_endpoints="a:1,b:2", kubeconfig=str(kubeconfig))
    assert config.etcd_endpoints == (("a", 1), ("b", 2))
    assert config.kubeconfig == kubeconfig
    assert config.kinds == ("Namespace", "Pod", "Service", "EndpointSlice", "NetworkPolicy", "Node")
    assert config.lease_ttl == 10 and config.identity
    assert KSRConfig(etcd_endpoints=[("h", 3)]).etcd_endpoints == (("h", 3),)
    assert KSRConfig(etcd_endpoints=["h:3"], kinds=["Pod"]).kinds == ("Pod",)
    assert KSRConfig(etcd_endpoints="h:3").kubeconfig is None  # in-cluster


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"etcd_endpoints": "nohost"}, "--etcd-endpoints"),
        ({"etcd_endpoints": "h:1", "kubeconfig": "/nonexistent/kc"}, "--kubeconfig"),
        ({"etcd_endpoints": "h:1", "lease_ttl": 1}, "lease_ttl"),
        ({"etcd_endpoints": "h:1", "txn_max_ops": 500}, "txn_max_ops"),
        ({"etcd_endpoints": "h:1", "check_interval": 0}, "check_interval"),
        ({"etcd_endpoints": "h:1", "kinds": ["Deployment"]}, "unknown kind 'Deployment'"),
        ({"etcd_endpoints": "h:1", "kinds": []}, "at least one kind"),
    ],
)
def test_bad_config_is_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KSRConfig(**kwargs)  # type: ignore[arg-type]


def test_watch_lines() -> None:
    pods = RESOURCES["Pod"]
    event = _watch_item(
        pods, b'{"type":"ADDED","object":{"metadata":{"name":"p","resourceVersion":"7"}}}'
    )
    assert event == WatchEvent(
        "ADDED",
        {"metadata": {"name": "p", "resourceVersion": "7"}, "kind": "Pod", "apiVersion": "v1"},
        "7",
    )
    bookmark = _watch_item(
        pods, b'{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}}'
    )
    assert isinstance(bookmark, WatchEvent) and bookmark.resource_version == "9"
    expired = _watch_item(
        pods,
        b'{"type":"ERROR","object":{"kind":"Status","code":410,'
        b'"reason":"Expired","message":"too old"}}',
    )
    assert expired == ApiFailure(410, "Expired", "too old") and expired.expired
    assert _watch_item(pods, b"not json") == ApiFailure(
        200, "BadResponse", _watch_item(pods, b"not json").message
    )  # type: ignore[union-attr]
    assert isinstance(_watch_item(pods, b'{"code": 500}'), ApiFailure)


def test_http_failures() -> None:
    status = b'{"kind":"Status","code":403,"reason":"Forbidden","message":"no"}'
    assert _failure_from_status(403, status) == ApiFailure(403, "Forbidden", "no")
    assert _failure_from_status(502, b"<html>bad gateway</html>") == ApiFailure(
        502, "", "<html>bad gateway</html>"
    )
    assert (
        str(ApiFailure(0, "ClientConnectorError", "refused"))
        == "no answer ClientConnectorError: refused"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:9191", ("127.0.0.1", 9191)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:9191", ("::1", 9191)),
        ("", None),
        (None, None),
    ],
)
def test_http_address(given: str | None, expected: tuple[str, int] | None) -> None:
    assert KSRConfig(etcd_endpoints="127.0.0.1:2379", http_address=given).http_address == expected


def test_http_address_default_is_loopback() -> None:
    assert KSRConfig(etcd_endpoints="127.0.0.1:2379").http_address == ("127.0.0.1", 9191)


@pytest.mark.parametrize("given", ["9191", ":9191", "host:", "host:http", "host:65536"])
def test_bad_http_address_is_named(given: str) -> None:
    with pytest.raises(ConfigError, match=f"--http-address: expected HOST:PORT, got '{given}'"):
        KSRConfig(etcd_endpoints="127.0.0.1:2379", http_address=given)
