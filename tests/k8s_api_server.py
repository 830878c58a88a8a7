"""A small, faithful Kubernetes API server for tests (aiohttp), as specified in deps-report 2.4.

No kube-apiserver can be had on our machines, and the mocks on PyPI get watches wrong, so the
KSR is tested against this: list and watch for Namespaces, Pods, Services, Nodes,
EndpointSlices and NetworkPolicies with the real wire behaviour kubernetes_asyncio depends on.

* One global resourceVersion counter; every create, update and delete bumps it and stamps
  ``metadata.resourceVersion``; creates also set ``uid`` and ``creationTimestamp``. A history
  of changes is kept until :meth:`FakeKubeAPI.compact` drops it; watching (or continuing a
  paged list) from a dropped resourceVersion answers 410 Expired, as the real server does.
* List: ``{"kind": "PodList", "metadata": {"resourceVersion"}, "items": [...]}`` with items
  without ``kind``/``apiVersion`` (like the real server), ``limit``/``continue`` paging over a
  consistent snapshot, ``labelSelector`` and simple ``fieldSelector``.
* Watch: one JSON event per line; no resourceVersion (or "0") = synthetic ADDED for every
  object then live events; resourceVersion N = replay of history after N then live events;
  BOOKMARKs every ``bookmark_interval`` when asked; ``timeoutSeconds`` and a server-side
  maximum watch duration; with a label selector an object that stops matching is DELETED
  from the watch and one that starts matching is ADDED.
* Test controls: :meth:`cut_streams` (end every open watch, gracefully or by dropping the
  connection), :meth:`fail_requests` (answer the next list/watch requests with an error),
  :meth:`compact`, and ``requests`` (every request seen).

Booleans in queries are parsed like Go's ``strconv.ParseBool`` (kubernetes_asyncio sends
``True``). Run standalone with ``python tests/k8s_api_server.py --port 0`` (prints its URL).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import datetime
import json
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

JSON = dict[str, Any]


@attrs.frozen
class ResourceType:
    kind: str
    plural: str
    group_version: str  # "v1", "discovery.k8s.io/v1", ...
    namespaced: bool

    @property
    def api_version(self) -> str:
        return self.group_version


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("Namespace", "namespaces", "v1", False),
    ResourceType("Pod", "pods", "v1", True),
    ResourceType("Service", "services", "v1", True),
    ResourceType("Node", "nodes", "v1", False),
    ResourceType("EndpointSlice", "endpointslices", "discovery.k8s.io/v1", True),
    ResourceType("NetworkPolicy", "networkpolicies", "networking.k8s.io/v1", True),
)
BY_KIND = {r.kind: r for r in RESOURCE_TYPES}
BY_PATH = {(r.group_version, r.plural): r for r in RESOURCE_TYPES}

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class APIError(Exception):
    """A Status answer (404, 409, 410, ...) from the fake server's own logic."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> JSON:
        return status_body(self.code, self.reason, self.message)


def status_body(code: int, reason: str, message: str) -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def parse_bool(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise APIError(400, "BadRequest", f"invalid value for {name}: {value!r}")


# -- selectors ------------------------------------------------------------------------------


@attrs.frozen
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value in self.values
        if self.op == "!=":
            return not present or value not in self.values
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present  # "!"


_SET_RE = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The label selector syntax: ``a=b,c!=d,e,!f,g in (x,y),h notin (z)``."""
    reqs: list[Requirement] = []
    # Split on commas outside parentheses.
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for part in (p.strip() for p in parts):
        if not part:
            continue
        m = _SET_RE.match(part)
        if m:
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(Requirement(k.strip(), "!=", frozenset({v.strip()})))
        elif "==" in part or "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append(Requirement(k.strip(), "=", frozenset({v.strip()})))
        elif part.startswith("!"):
            reqs.append(Requirement(part[1:].strip(), "!"))
        elif re.fullmatch(r"[A-Za-z0-9./_-]+", part):
            reqs.append(Requirement(part, "exists"))
        else:
            raise APIError(400, "BadRequest", f"unable to parse requirement: {part!r}")
    return tuple(reqs)


def parse_field_selector(text: str) -> tuple[tuple[str, str, str], ...]:
    """``a.b=c,d!=e`` over dotted paths of the object (e.g. ``spec.nodeName=n1``)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        else:
            raise APIError(400, "BadRequest", f"invalid field selector: {part!r}")
    return tuple(out)


def _field(obj: JSON, path: str) -> str:
    cur: Any = obj
    for name in path.split("."):
        cur = cur.get(name) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


@attrs.frozen
class Filter:
    namespace: str | None = None
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, str, str], ...] = ()

    def matches(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        labels = meta.get("labels") or {}
        if not isinstance(labels, dict):
            labels = {}
        if not all(r.matches(labels) for r in self.labels):
            return False
        for path, op, value in self.fields:
            have = _field(obj, path)
            if (have == value) != (op == "="):
                return False
        return True


# -- the store --------------------------------------------------------------------------------


@attrs.frozen
class Change:
    rv: int
    resource: ResourceType
    type: str  # ADDED / MODIFIED / DELETED
    obj: JSON  # the object after the change (for DELETED: final state, deletion RV)
    prev: JSON | None  # before the change (None for ADDED)


@attrs.define(eq=False)
class _Watch:
    resource: ResourceType
    queue: asyncio.Queue[Change | None]
    cut: asyncio.Event = attrs.field(factory=asyncio.Event)
    abrupt: bool = False


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ident(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class FakeKubeAPI:
    """The server. ``await start()``; mutate with create/update/delete; ``await stop()``."""

    def __init__(
        self,
        *,
        bookmark_interval: float = 1.0,
        max_watch_seconds: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bookmark_interval = bookmark_interval
        self.max_watch_seconds = max_watch_seconds
        self.host = host
        self.port = port
        self.rv = 100  # like a real cluster, not starting at 1
        self.compacted_rv = self.rv
        self.objects: dict[tuple[str, str, str], JSON] = {}
        self.history: list[Change] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._watches: set[_Watch] = set()
        self._failures: list[tuple[int, str]] = []
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.url

    async def stop(self) -> None:
        self.cut_streams(abrupt=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeKubeAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig file pointing at this server (plain HTTP, a dummy token)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    # -- test controls ------------------------------------------------------------------

    def compact(self) -> int:
        """Forget the change history: watches and list continuations from before now get 410."""
        self.compacted_rv = self.rv
        self.history.clear()
        return self.rv

    def cut_streams(self, *, abrupt: bool = False) -> int:
        """End every open watch: gracefully (end of body) or by dropping the connection."""
        for watch in self._watches:
            watch.abrupt = abrupt
            watch.cut.set()
        return len(self._watches)

    def fail_requests(self, count: int, status: int = 500, reason: str = "InternalError") -> None:
        """Answer the next ``count`` list / watch requests with a Status error."""
        self._failures.extend([(status, reason)] * count)

    @property
    def open_watches(self) -> int:
        return len(self._watches)

    def watch_requests(self, plural: str | None = None) -> list[dict[str, str]]:
        return [
            q
            for _, path, q in self.requests
            if parse_bool(q.get("watch"), "watch") and (plural is None or path.endswith(plural))
        ]

    # -- mutations (also reachable over HTTP) --------------------------------------------

    def _bump(self) -> int:
        self.rv += 1
        return self.rv

    def _record(self, resource: ResourceType, type_: str, obj: JSON, prev: JSON | None) -> None:
        change = Change(self.rv, resource, type_, copy.deepcopy(obj), copy.deepcopy(prev))
        self.history.append(change)
        for watch in self._watches:
            if watch.resource == resource:
                watch.queue.put_nowait(change)

    def create(self, obj: JSON) -> JSON:
        resource = self._resource_of(obj)
        ns, name = _ident(obj)
        if not name:
            raise APIError(422, "Invalid", f"{resource.kind}: metadata.name: Required value")
        if resource.namespaced and not ns:
            raise APIError(422, "Invalid", f"{resource.kind} {name}: metadata.namespace required")
        key = (resource.plural, ns if resource.namespaced else "", name)
        if key in self.objects:
            raise APIError(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
        new = copy.deepcopy(obj)
        new["kind"], new["apiVersion"] = resource.kind, resource.api_version
        meta = new.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["resourceVersion"] = str(self._bump())
        meta.setdefault("managedFields", [{"manager": "tests", "operation": "Update"}])
        self.objects[key] = new
        self._record(resource, "ADDED", new, None)
        return copy.deepcopy(new)

    def update(self, obj: JSON) -> JSON:
        resource = self._resource_of(obj)
        ns, name = _ident(obj)
        key = (resource.plural, ns if resource.namespaced else "", name)
        old = self.objects.get(key)
        if old is None:
            raise APIError(404, "NotFound", f'{resource.plural} "{name}" not found')
        given = (obj.get("metadata") or {}).get("resourceVersion")
        if given and given != old["metadata"]["resourceVersion"]:
            raise APIError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": '
                "the object has been modified; please apply your changes to the latest version",
            )
        new = copy.deepcopy(obj)
        new["kind"], new["apiVersion"] = resource.kind, resource.api_version
        meta = new.setdefault("metadata", {})
        meta["uid"] = old["metadata"]["uid"]
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        meta["resourceVersion"] = str(self._bump())
        self.objects[key] = new
        self._record(resource, "MODIFIED", new, old)
        return copy.deepcopy(new)

    def modify(self, kind: str, namespace: str, name: str, change: Callable[[JSON], None]) -> JSON:
        """Update an object in place: ``change`` edits a copy of the current object."""
        obj = self.get(kind, namespace, name)
        change(obj)
        return self.update(obj)

    def delete(self, kind: str, namespace: str, name: str) -> JSON:
        resource = BY_KIND[kind]
        key = (resource.plural, namespace if resource.namespaced else "", name)
        old = self.objects.pop(key, None)
        if old is None:
            raise APIError(404, "NotFound", f'{resource.plural} "{name}" not found')
        final = copy.deepcopy(old)
        final["metadata"]["resourceVersion"] = str(self._bump())
        self._record(resource, "DELETED", final, old)
        return copy.deepcopy(final)

    def get(self, kind: str, namespace: str, name: str) -> JSON:
        resource = BY_KIND[kind]
        key = (resource.plural, namespace if resource.namespaced else "", name)
        if key not in self.objects:
            raise APIError(404, "NotFound", f'{resource.plural} "{name}" not found')
        return copy.deepcopy(self.objects[key])

    def list_objects(self, kind: str) -> list[JSON]:
        plural = BY_KIND[kind].plural
        return [copy.deepcopy(o) for k, o in sorted(self.objects.items()) if k[0] == plural]

    @staticmethod
    def _resource_of(obj: JSON) -> ResourceType:
        kind = obj.get("kind")
        if kind not in BY_KIND:
            raise APIError(400, "BadRequest", f"unsupported kind {kind!r}")
        return BY_KIND[kind]

    # -- snapshots for paged lists ------------------------------------------------------

    def _state_at(self, resource: ResourceType, rv: int) -> dict[tuple[str, str], JSON]:
        """The objects of one resource as of ``rv`` (undoing the history after it)."""
        if rv < self.compacted_rv:
            raise APIError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter.",
            )
        state = {(k[1], k[2]): o for k, o in self.objects.items() if k[0] == resource.plural}
        for change in reversed(self.history):
            if change.rv <= rv:
                break
            if change.resource != resource:
                continue
            ident = _ident(change.obj)
            if change.type == "ADDED":
                state.pop(ident, None)
            elif change.prev is not None:
                state[ident] = change.prev
        return state

    # -- HTTP ---------------------------------------------------------------------------

    def _route(self, path: str) -> tuple[ResourceType, str | None, str | None]:
        """(resource, namespace or None, name or None) for an API path."""
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            gv, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise APIError(
                404, "NotFound", f"the server could not find the requested resource: {path}"
            )
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2 or (gv, rest[0]) not in BY_PATH:
            raise APIError(
                404, "NotFound", f"the server could not find the requested resource: {path}"
            )
        resource = BY_PATH[(gv, rest[0])]
        if namespace is not None and not resource.namespaced:
            raise APIError(404, "NotFound", f"{resource.plural} are not namespaced")
        return resource, namespace, rest[1] if len(rest) == 2 else None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.method, request.path, query))
        try:
            resource, namespace, name = self._route(request.path)
            if request.method == "GET" and name is None:
                if self._failures:
                    code, reason = self._failures.pop(0)
                    raise APIError(code, reason, f"injected failure ({code})")
                if parse_bool(query.get("watch"), "watch"):
                    return await self._watch(request, resource, namespace, query)
                return web.json_response(self._list(resource, namespace, query))
            return await self._crud(request, resource, namespace, name)
        except APIError as exc:
            return web.json_response(exc.status(), status=exc.code)

    async def _crud(
        self, request: web.Request, resource: ResourceType, namespace: str | None, name: str | None
    ) -> web.StreamResponse:
        if request.method == "GET" and name is not None:
            return web.json_response(self.get(resource.kind, namespace or "", name))
        if request.method == "DELETE" and name is not None:
            return web.json_response(self.delete(resource.kind, namespace or "", name))
        if request.method in ("POST", "PUT"):
            body = await request.json()
            if not isinstance(body, dict):
                raise APIError(400, "BadRequest", "body must be an object")
            body["kind"] = resource.kind
            if namespace is not None:
                body.setdefault("metadata", {})["namespace"] = namespace
            if request.method == "POST" and name is None:
                return web.json_response(self.create(body), status=201)
            if request.method == "PUT" and name is not None:
                return web.json_response(self.update(body))
        raise APIError(405, "MethodNotAllowed", f"{request.method} {request.path} not allowed")

    def _filter(self, namespace: str | None, query: Mapping[str, str]) -> Filter:
        return Filter(
            namespace,
            parse_label_selector(query.get("labelSelector", "")),
            parse_field_selector(query.get("fieldSelector", "")),
        )

    def _list(
        self, resource: ResourceType, namespace: str | None, query: Mapping[str, str]
    ) -> JSON:
        flt = self._filter(namespace, query)
        limit = int(query.get("limit") or 0)
        start: tuple[str, str] = ("", "")
        rv = self.rv
        token = query.get("continue")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                rv, start = int(decoded["rv"]), (decoded["ns"], decoded["name"])
            except (ValueError, KeyError, TypeError) as exc:
                raise APIError(400, "BadRequest", f"invalid continue token: {exc}") from exc
        state = self._state_at(resource, rv)
        items = [
            state[k] for k in sorted(state) if (not token or k > start) and flt.matches(state[k])
        ]
        meta: JSON = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            last = _ident(items[limit - 1])
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "ns": last[0], "name": last[1]}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        out_items = []
        for obj in items:
            item = copy.deepcopy(obj)
            item.pop("kind", None)  # the real server leaves kind/apiVersion off list items
            item.pop("apiVersion", None)
            out_items.append(item)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": meta,
            "items": out_items,
        }

    async def _watch(
        self,
        request: web.Request,
        resource: ResourceType,
        namespace: str | None,
        query: Mapping[str, str],
    ) -> web.StreamResponse:
        flt = self._filter(namespace, query)
        bookmarks = parse_bool(query.get("allowWatchBookmarks"), "allowWatchBookmarks")
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        if self.max_watch_seconds is not None:
            timeout = min(timeout or self.max_watch_seconds, self.max_watch_seconds)
        rv_text = query.get("resourceVersion") or "0"
        try:
            since = int(rv_text)
        except ValueError as exc:
            raise APIError(400, "BadRequest", f"invalid resourceVersion {rv_text!r}") from exc

        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(event: JSON) -> None:
            await response.write(json.dumps(event).encode() + b"\n")

        if since and since < self.compacted_rv:
            message = f"too old resource version: {since} ({self.compacted_rv})"
            await send({"type": "ERROR", "object": status_body(410, "Expired", message)})
            await response.write_eof()
            return response

        # Register first, then read the backlog: no change can fall between the two.
        watch = _Watch(resource, asyncio.Queue())
        self._watches.add(watch)
        backlog: list[Change] = []
        if since == 0:
            for k in sorted(self.objects):
                obj = self.objects[k]
                if k[0] == resource.plural and flt.matches(obj):
                    backlog.append(Change(self.rv, resource, "ADDED", copy.deepcopy(obj), None))
        else:
            backlog = [c for c in self.history if c.rv > since and c.resource == resource]
        sent_rv = since if since else self.rv
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            for change in backlog:
                await self._send_change(send, change, flt)
            if backlog:
                sent_rv = max(sent_rv, backlog[-1].rv)
            while not watch.cut.is_set():
                now = loop.time()
                if deadline is not None and now >= deadline:
                    break
                wake = next_bookmark if bookmarks else now + 3600
                if deadline is not None:
                    wake = min(wake, deadline)
                change = await self._next(watch, max(0.0, wake - now))
                if change is not None:
                    if change.rv > sent_rv:
                        await self._send_change(send, change, flt)
                        sent_rv = change.rv
                    continue
                if bookmarks and loop.time() >= next_bookmark and not watch.cut.is_set():
                    if watch.queue.empty():
                        sent_rv = max(sent_rv, self.rv)  # everything up to now was sent
                    await send(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": resource.kind,
                                "apiVersion": resource.api_version,
                                "metadata": {"resourceVersion": str(sent_rv)},
                            },
                        }
                    )
                    next_bookmark = loop.time() + self.bookmark_interval
            if watch.abrupt and request.transport is not None:
                request.transport.close()
                return response
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self._watches.discard(watch)
        return response

    @staticmethod
    async def _next(watch: _Watch, timeout: float) -> Change | None:
        """The next change for this watch, or None on timeout or once the stream is cut
        (a cut stream delivers nothing more, like a dropped connection)."""
        if watch.cut.is_set():
            return None
        if not watch.queue.empty():
            return watch.queue.get_nowait()
        getter = asyncio.ensure_future(watch.queue.get())
        cutter = asyncio.ensure_future(watch.cut.wait())
        try:
            await asyncio.wait(
                {getter, cutter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cutter.cancel()
            if not getter.done() or watch.cut.is_set():
                getter.cancel()
        if watch.cut.is_set() or getter.cancelled() or not getter.done():
            return None
        return getter.result()

    @staticmethod
    async def _send_change(send: Callable[[JSON], Any], change: Change, flt: Filter) -> None:
        now_matches = flt.matches(change.obj)
        before = flt.matches(change.prev) if change.prev is not None else False
        type_ = change.type
        if change.type == "MODIFIED":
            if before and not now_matches:
                type_ = "DELETED"
            elif now_matches and not before:
                type_ = "ADDED"
            elif not now_matches:
                return
        elif change.type == "DELETED":
            if not before:
                return
        elif not now_matches:
            return
        await send({"type": type_, "object": change.obj})


# -- objects for tests ------------------------------------------------------------------------


def namespace(name: str, labels: Mapping[str, str] | None = None) -> JSON:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


def pod(
    name: str,
    ns: str = "default",
    *,
    ip: str = "",
    node: str = "node-1",
    labels: Mapping[str, str] | None = None,
    ports: tuple[int, ...] = (),
) -> JSON:
    container: JSON = {"name": "main", "image": "busybox"}
    if ports:
        container["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    status: JSON = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    if ip:
        status["podIP"] = ip
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {})},
        "spec": {"nodeName": node, "containers": [container]},
        "status": status,
    }


def service(
    name: str, ns: str = "default", *, cluster_ip: str = "10.96.0.10", port: int = 80
) -> JSON:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "selector": {"app": name},
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": 8080}],
        },
        "status": {"loadBalancer": {}},
    }


def endpoint_slice(
    name: str, ns: str = "default", *, service_name: str = "", ips: tuple[str, ...] = ()
) -> JSON:
    return {
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": service_name or name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-1"} for ip in ips
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def network_policy(name: str, ns: str = "default", *, app: str = "web") -> JSON:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "podSelector": {"matchLabels": {"app": app}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}],
        },
    }


def node(name: str, *, ip: str = "192.168.16.1", pod_cidr: str = "10.1.1.0/24") -> JSON:
    return {
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"podCIDR": pod_cidr},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": _now()}],
        },
    }


def seed(api: FakeKubeAPI, pods: int, *, namespaces: int = 10, nodes: int = 10) -> None:
    """Fill the server with a realistic cluster: namespaces, nodes and ``pods`` running pods
    (with the status churn and managedFields real pods carry)."""
    for n in range(nodes):
        api.create(node(f"node-{n}", ip=f"192.168.16.{n + 1}", pod_cidr=f"10.1.{n}.0/24"))
    for n in range(namespaces):
        api.create(namespace(f"ns-{n}", {"team": f"t{n % 3}"}))
    for i in range(pods):
        obj = pod(
            f"pod-{i}",
            f"ns-{i % namespaces}",
            ip=f"10.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 2}",
            node=f"node-{i % nodes}",
            labels={"app": f"app-{i % 50}", "pod-template-hash": "5d8f7c9b4"},
            ports=(8080,),
        )
        obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-01-01"}
        obj["status"]["hostIP"] = f"192.168.16.{i % nodes + 1}"
        obj["status"]["startTime"] = "2026-01-01T00:00:00Z"
        api.create(obj)


async def _serve(port: int, bookmark_interval: float, pods: int) -> None:
    api = FakeKubeAPI(port=port, bookmark_interval=bookmark_interval)
    if pods:
        seed(api, pods)
    api.compact()  # the seeding is not history anybody will watch
    await api.start()
    print(api.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Kubernetes API server for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--seed-pods", type=int, default=0, help="start with a cluster of N pods")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.bookmark_interval, args.seed_pods))


if __name__ == "__main__":
    main()
