"""The KSR's settings, validated once, so nothing downstream re-checks a number or a path.

Defaults follow Contiv's KSR where it had one (leader lease on etcd, data-loss check every
second, status refreshed every 10 s) and client-go's reflector where Contiv relied on it
(list pages of 500, watches re-opened every few minutes, bookmarks asked for).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

import attrs

from contivpp.datastore.etcd import Endpoint, parse_endpoints
from contivpp.errors import ConfigError, DatastoreError
from contivpp.events.k8s import KINDS, Kind


def default_identity() -> str:
    """``<hostname>-<pid>``: unique per replica, readable in the election key and logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _endpoints(value: str | Sequence[str | Endpoint]) -> tuple[Endpoint, ...]:
    """``"h:p,h:p"``, ``["h:p", ...]`` or ``[("h", p), ...]``."""
    if isinstance(value, str):
        value = [value]
    texts = [v if isinstance(v, str) else f"{v[0]}:{v[1]}" for v in value]
    try:
        return parse_endpoints(",".join(texts))
    except DatastoreError as exc:
        raise ConfigError(f"--etcd-endpoints: {exc}") from exc


def _http_address(value: str | tuple[str, int] | None) -> tuple[str, int] | None:
    """``"HOST:PORT"`` (``""`` or ``None``: no HTTP endpoint)."""
    if value is None or isinstance(value, tuple):
        return value
    if not value:
        return None
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--http-address: expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"ksr.{attribute.name}: must be > 0, got {value}")


def _kinds(value: Sequence[str]) -> tuple[Kind, ...]:
    out: list[Kind] = []
    for kind in value:
        if kind not in KINDS:
            raise ConfigError(f"ksr.kinds: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        out.append(next(k for k in KINDS if k == kind))
    return tuple(out)


@attrs.frozen
class KSRConfig:
    """How one KSR replica runs. ``kubeconfig=None`` means in-cluster configuration."""

    etcd_endpoints: tuple[Endpoint, ...] = attrs.field(converter=_endpoints)
    kubeconfig: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    kube_context: str | None = None
    identity: str = attrs.field(factory=default_identity)
    # Leadership: a lease of lease_ttl seconds, refreshed every lease_ttl / 3; a standby
    # replica checks every campaign_interval whether the leader key is gone.
    lease_ttl: int = 10
    campaign_interval: float = attrs.field(default=1.0, validator=_positive)
    etcd_timeout: float = attrs.field(default=5.0, validator=_positive)
    # Kubernetes API: list page size, server-side watch timeout (the watch is then re-opened
    # from the last resourceVersion), back-off on API errors.
    list_page_size: int = 500
    watch_timeout: int = 300
    api_backoff_initial: float = attrs.field(default=0.2, validator=_positive)
    api_backoff_max: float = attrs.field(default=30.0, validator=_positive)
    # etcd writing: data-loss check period, status key refresh period, write batch size.
    check_interval: float = attrs.field(default=1.0, validator=_positive)
    status_interval: float = attrs.field(default=10.0, validator=_positive)
    etcd_backoff_max: float = attrs.field(default=5.0, validator=_positive)
    txn_max_ops: int = 100
    kinds: tuple[Kind, ...] = attrs.field(default=KINDS, converter=_kinds)
    # /healthz /readyz /metrics; loopback unless configured (Contiv's KSR probe port)
    http_address: tuple[str, int] | None = attrs.field(
        default=("127.0.0.1", 9191), converter=_http_address
    )

    def __attrs_post_init__(self) -> None:
        if self.lease_ttl < 2:
            raise ConfigError(f"ksr.lease_ttl: must be >= 2 s, got {self.lease_ttl}")
        if not 1 <= self.txn_max_ops <= 128:
            raise ConfigError(
                f"ksr.txn_max_ops: must be in 1..128 (etcd's limit), got {self.txn_max_ops}"
            )
        if self.list_page_size < 1 or self.watch_timeout < 1:
            raise ConfigError("ksr.list_page_size and ksr.watch_timeout must be >= 1")
        if not self.kinds:
            raise ConfigError("ksr.kinds: at least one kind to reflect")
        if self.kubeconfig is not None and not self.kubeconfig.is_file():
            raise ConfigError(f"--kubeconfig: {self.kubeconfig}: no such file")
