"""The typed boundary to the Kubernetes API: paged lists and watch streams as raw JSON.

kubernetes_asyncio supplies configuration (kubeconfig or in-cluster), authentication and the
generated API calls; we ask it for the undecoded response (``_preload_content=False``) and
read the JSON ourselves. That keeps the exact API form that the KSR stores (the generated
models would rename every field and validate things we do not read), avoids a model
deserialisation per object at 10,000 pods, and gives the reflector the control over
resourceVersions, bookmarks and 410 Gone that kubernetes_asyncio's ``Watch`` hides (it
silently retries a 410 once with the stale version). Failures come back as
:class:`ApiFailure` values, not exceptions: for a reflector an unreachable API server or an
expired resourceVersion is an expected outcome with a known next step.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import structlog
from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from contivpp.errors import ConfigError
from contivpp.events.k8s import Kind

log = structlog.get_logger("contivpp.ksr.kubeapi")

JSONObject = dict[str, object]


@attrs.frozen
class Resource:
    """One reflected resource type: its kind, apiVersion and kubernetes_asyncio list call."""

    kind: Kind
    api_version: str
    api_class: str
    list_call: str


RESOURCES: dict[Kind, Resource] = {
    r.kind: r
    for r in (
        Resource("Namespace", "v1", "CoreV1Api", "list_namespace"),
        Resource("Pod", "v1", "CoreV1Api", "list_pod_for_all_namespaces"),
        Resource("Service", "v1", "CoreV1Api", "list_service_for_all_namespaces"),
        Resource(
            "EndpointSlice",
            "discovery.k8s.io/v1",
            "DiscoveryV1Api",
            "list_endpoint_slice_for_all_namespaces",
        ),
        Resource(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            "NetworkingV1Api",
            "list_network_policy_for_all_namespaces",
        ),
        Resource("Node", "v1", "CoreV1Api", "list_node"),
    )
}


@attrs.frozen
class ApiFailure:
    """A request that did not succeed. ``status`` 0: no HTTP answer (connection, timeout)."""

    status: int
    reason: str
    message: str

    @property
    def expired(self) -> bool:
        """410 Gone / Expired: the resourceVersion is too old, the caller must re-list."""
        return self.status == 410

    def __str__(self) -> str:
        return f"{self.status or 'no answer'} {self.reason}: {self.message}"


@attrs.frozen
class ListPage:
    items: tuple[object, ...]
    resource_version: str
    continue_token: str


@attrs.frozen
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: JSONObject
    resource_version: str  # of the object / bookmark ("" if it carries none)


def _resource_version(obj: Mapping[str, object]) -> str:
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        rv = meta.get("resourceVersion")
        if isinstance(rv, str):
            return rv
    return ""


def _failure_from_status(status: int, body: bytes) -> ApiFailure:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict):
        return ApiFailure(
            int(data.get("code") or status),
            str(data.get("reason") or ""),
            str(data.get("message") or ""),
        )
    return ApiFailure(status, "", body[:200].decode(errors="replace"))


def _transport_failure(exc: BaseException) -> ApiFailure:
    return ApiFailure(0, type(exc).__name__, str(exc) or repr(exc))


class KubeApi:
    """A connection to one Kubernetes API server."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client
        self._apis: dict[str, Any] = {}

    @classmethod
    async def connect(cls, kubeconfig: Path | None, *, context: str | None = None) -> KubeApi:
        """From a kubeconfig file, or (``kubeconfig=None``) the in-cluster service account."""
        try:
            if kubeconfig is None:
                cfg = client.Configuration()
                load_incluster: Any = config.load_incluster_config  # untyped
                load_incluster(client_configuration=cfg)
                api_client = client.ApiClient(cfg)
            else:
                api_client = await config.new_client_from_config(
                    config_file=str(kubeconfig), context=context, persist_config=False
                )
        except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            where = "in-cluster configuration" if kubeconfig is None else str(kubeconfig)
            raise ConfigError(f"kubernetes API: {where}: {exc}") from exc
        return cls(api_client)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _call(self, resource: Resource) -> Any:
        api = self._apis.get(resource.api_class)
        if api is None:
            api = self._apis[resource.api_class] = getattr(client, resource.api_class)(self._client)
        return getattr(api, resource.list_call)

    async def list_page(
        self,
        resource: Resource,
        *,
        limit: int,
        continue_token: str = "",
        label_selector: str = "",
        request_timeout: float = 60.0,
    ) -> ListPage | ApiFailure:
        """One page of a list. Items get ``kind`` and ``apiVersion`` (the API omits them)."""
        kwargs: dict[str, Any] = {
            "limit": limit,
            "_preload_content": False,
            "_request_timeout": aiohttp.ClientTimeout(total=request_timeout),
        }
        if continue_token:
            kwargs["_continue"] = continue_token
        if label_selector:
            kwargs["label_selector"] = label_selector
        try:
            resp = await self._call(resource)(**kwargs)
            try:
                body = await resp.read()
                if resp.status != 200:
                    return _failure_from_status(resp.status, body)
            finally:
                resp.release()
            data = json.loads(body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return _transport_failure(exc)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return ApiFailure(200, "BadResponse", f"list {resource.kind}: not JSON: {exc}")
        if not isinstance(data, dict):
            return ApiFailure(200, "BadResponse", f"list {resource.kind}: not an object")
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        raw_items = data.get("items") or []
        items: list[object] = []
        for item in raw_items if isinstance(raw_items, list) else []:
            # A non-object item is kept as it is: the reflector reports it as malformed.
            if isinstance(item, dict):
                item = {**item, "kind": resource.kind, "apiVersion": resource.api_version}
            items.append(item)
        return ListPage(
            tuple(items),
            str(meta.get("resourceVersion") or ""),
            str(meta.get("continue") or ""),
        )

    async def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        timeout_seconds: int,
        label_selector: str = "",
    ) -> AsyncGenerator[WatchEvent | ApiFailure, None]:
        """One watch request from ``resource_version``, with bookmarks.

        Yields events until the server ends the stream (normally after ``timeout_seconds``);
        a failure (an ERROR event such as 410, an HTTP error, a broken connection) is yielded
        as the last item.
        """
        kwargs: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "resource_version": resource_version,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            # The server ends the stream after timeout_seconds; if it goes silent instead (a
            # dead connection), give up a little later.
            "_request_timeout": aiohttp.ClientTimeout(total=timeout_seconds + 30, sock_connect=10),
        }
        if label_selector:
            kwargs["label_selector"] = label_selector
        try:
            resp = await self._call(resource)(**kwargs)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            yield _transport_failure(exc)
            return
        try:
            if resp.status != 200:
                yield _failure_from_status(resp.status, await resp.read())
                return
            while True:
                line = await resp.content.readline()
                if not line:
                    return  # the server ended the watch
                if not line.strip():
                    continue
                yield _watch_item(resource, line)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            yield _transport_failure(exc)
        finally:
            resp.release()


def _watch_item(resource: Resource, line: bytes) -> WatchEvent | ApiFailure:
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ApiFailure(200, "BadResponse", f"watch {resource.kind}: not JSON: {exc}")
    if not isinstance(data, dict):
        return ApiFailure(200, "BadResponse", f"watch {resource.kind}: event is not an object")
    obj = data.get("object")
    type_ = data.get("type")
    if type_ == "ERROR" or not isinstance(obj, dict) or not isinstance(type_, str):
        status = obj if isinstance(obj, dict) else data
        return ApiFailure(
            int(status.get("code") or 500),
            str(status.get("reason") or ""),
            str(status.get("message") or f"watch {resource.kind}: malformed event"),
        )
    if type_ != "BOOKMARK":
        obj = {**obj, "kind": resource.kind, "apiVersion": resource.api_version}
    return WatchEvent(type_, obj, _resource_version(obj))
