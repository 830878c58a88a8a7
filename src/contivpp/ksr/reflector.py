"""One reflector per Kubernetes kind: list, then watch, and hand every change to the mirror.

This is client-go's reflector, the part of it Contiv's KSR used. A complete (paged) list
becomes one ``Replace`` (mark and sweep: what is not listed any more is deleted); the watch
starts at the list's resourceVersion, asks for bookmarks, and is re-opened from the last
resourceVersion seen (object or bookmark) whenever the server ends it. A 410 Gone means the
server no longer has the history we need: list again, and the sweep catches the deletes we
missed. Other API errors are retried with exponential back-off. Each object is validated
with ``parse_object`` and trimmed before it is handed on; a malformed object is skipped with
a warning naming it and its bad field, counted, and never written (what etcd had for it, if
anything, stays).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.values import Encoded, encode_object
from contivpp.errors import K8sObjectError
from contivpp.events.k8s import parse_ref
from contivpp.ksr.config import KSRConfig
from contivpp.ksr.kubeapi import ApiFailure, KubeApi, Resource
from contivpp.ksr.mirror import Change, Remove, Replace, Upsert
from contivpp.ksr.stats import KindStats

log = structlog.get_logger("contivpp.ksr.reflector")

Submit = Callable[[Change], Awaitable[None]]


class Reflector:
    def __init__(
        self,
        resource: Resource,
        api: KubeApi,
        submit: Submit,
        stats: KindStats,
        config: KSRConfig,
    ) -> None:
        self.resource = resource
        self._api = api
        self._submit = submit
        self._stats = stats
        self._config = config
        self._kind = resource.kind

    async def run(self) -> None:
        """List and watch until cancelled."""
        backoff = Backoff(
            initial=self._config.api_backoff_initial, maximum=self._config.api_backoff_max
        )
        loop = asyncio.get_running_loop()
        rv = ""
        while True:
            if not rv:
                listed = await self._list()
                if isinstance(listed, ApiFailure):
                    self._api_error("list", listed)
                    await backoff.sleep()
                    continue
                rv = listed
                backoff.reset()
            started = loop.time()
            rv, failure, events = await self._watch(rv)
            if failure is None:
                # The server ended the watch (its timeout): re-open it from where we are.
                # A server that ends every watch at once must not be hammered.
                if events or loop.time() - started > 1.0:
                    backoff.reset()
                else:
                    await backoff.sleep()
            elif failure.expired:
                self._stats.expired += 1
                log.info(
                    "ksr_watch_expired",
                    kind=self._kind,
                    resource_version=rv,
                    message=failure.message,
                )
                rv = ""  # list again: the sweep catches what happened meanwhile
            else:
                self._api_error("watch", failure)
                await backoff.sleep()

    def _api_error(self, what: str, failure: ApiFailure) -> None:
        self._stats.api_errors += 1
        log.warning(
            "ksr_api_error",
            kind=self._kind,
            request=what,
            status=failure.status,
            reason=failure.reason,
            message=failure.message,
        )

    async def _list(self) -> str | ApiFailure:
        """List every object (in pages) and submit one Replace; returns the resourceVersion."""
        values: dict[str, bytes] = {}
        keep: set[str] = set()
        token = ""
        rv = ""
        while True:
            page = await self._api.list_page(
                self.resource, limit=self._config.list_page_size, continue_token=token
            )
            if isinstance(page, ApiFailure):
                if page.expired and token:
                    # The snapshot our pages came from is gone: start the list over.
                    values.clear()
                    keep.clear()
                    token = rv = ""
                    continue
                return page
            rv = rv or page.resource_version
            for item in page.items:
                encoded = self._encode(item)
                if isinstance(encoded, Encoded):
                    values[encoded.key] = encoded.value
                elif encoded:
                    keep.add(encoded)
            token = page.continue_token
            if not token:
                break
        await self._submit(Replace(self._kind, values, frozenset(keep)))
        self._stats.lists += 1
        self._stats.resource_version = rv
        log.info(
            "ksr_listed",
            kind=self._kind,
            objects=len(values),
            skipped=len(keep),
            resource_version=rv,
        )
        return rv

    async def _watch(self, rv: str) -> tuple[str, ApiFailure | None, int]:
        """One watch request; returns the last resourceVersion, the failure if any, #events."""
        self._stats.watches += 1
        events = 0
        stream = self._api.watch(
            self.resource, resource_version=rv, timeout_seconds=self._config.watch_timeout
        )
        # aclosing: leaving the loop early must release the HTTP response at once.
        async with contextlib.aclosing(stream):
            async for item in stream:
                if isinstance(item, ApiFailure):
                    return rv, item, events
                if item.type == "BOOKMARK":
                    self._stats.bookmarks += 1
                elif item.type in ("ADDED", "MODIFIED"):
                    events += 1
                    encoded = self._encode(item.object)
                    if isinstance(encoded, Encoded):
                        await self._submit(Upsert(self._kind, encoded.key, encoded.value))
                elif item.type == "DELETED":
                    events += 1
                    key = self._key_of(item.object)
                    if key:
                        await self._submit(Remove(self._kind, key))
                else:
                    log.warning("ksr_watch_event_unknown", kind=self._kind, type=item.type)
                if item.resource_version:
                    rv = item.resource_version
                    self._stats.resource_version = rv
        return rv, None, events

    def _encode(self, raw: object) -> Encoded | str:
        """The stored form of ``raw``; if malformed: log, count, and return its key or ''."""
        try:
            return encode_object(raw)
        except K8sObjectError as exc:
            self._stats.skipped += 1
            log.warning(
                "ksr_object_skipped",
                kind=self._kind,
                object=exc.obj_ref,
                field=exc.field,
                reason=exc.reason,
            )
            return self._key_of(raw)

    def _key_of(self, raw: object) -> str:
        try:
            return keys.object_key(parse_ref(raw))
        except K8sObjectError as exc:
            log.warning(
                "ksr_object_unnamed",
                kind=self._kind,
                object=exc.obj_ref,
                field=exc.field,
                reason=exc.reason,
            )
            return ""
