"""The agent's view of etcd: the KSR prefix as an exact, ordered stream of events.

Agents never talk to the Kubernetes API; they learn about objects from what the KSR wrote to
etcd. A lost change or a duplicate here becomes wrong dataplane state, so the watcher keeps,
per key, the revision and a digest of the last value it turned into an event, and uses them
three ways:

* start-up: a snapshot at revision R (one consistent, paged read) becomes events, then the
  watch starts at R;
* reconnect (etcd restarted, connection lost): it checks that etcd still holds the history it
  has seen (the store revision did not go back; every key last changed before the last
  processed revision is still there, unchanged) and re-watches from the last processed
  revision; events it already published are recognised by their revision and skipped;
* compaction (the history it needs is gone): it re-reads the snapshot and publishes only the
  difference, including a delete for every object that disappeared meanwhile.

If etcd lost data (the store revision went back, keys changed behind its back, or the KSR's
status key was deleted along with the prefix), an empty or half-rewritten etcd must not tear
pods down: the watcher waits until the KSR reports it has re-reflected everything (its status
key says ``synced``) and then publishes the difference. While etcd is down nothing is
published, so the agent keeps its dataplane and its state, and keeps serving CNI requests for
the pods it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Literal, Protocol

import attrs
import structlog

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import Compacted, EtcdStore, KeyValue, WatchBatch, WatchEvent
from contivpp.datastore.values import decode_value, minimal_raw
from contivpp.errors import DatastoreError, InputError
from contivpp.events.types import Event, K8sDeleted, K8sUpserted

log = structlog.get_logger("contivpp.datastore.watcher")

Publish = Callable[[Event], Awaitable[None]]


def digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()


@attrs.frozen
class KnownKey:
    """What the watcher last saw of one key."""

    mod_revision: int
    create_revision: int
    digest: bytes
    delivered: bool  # an upsert for this key was published and not yet followed by a delete


@attrs.frozen
class Checkpoint:
    """Where a watcher stands: enough to resume it (after an agent restart) without a resync.

    ``revision`` is the highest revision any event was published for; a resumed watcher
    re-reads from that revision and skips what ``keys`` shows it already published.
    """

    revision: int
    keys: Mapping[str, KnownKey]
    epoch: str = ""  # the KSR's epoch (from its status key) when the checkpoint was taken

    def to_json(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "epoch": self.epoch,
            "keys": {
                key: [k.mod_revision, k.create_revision, k.digest.hex(), k.delivered]
                for key, k in sorted(self.keys.items())
            },
        }

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        """Read back :meth:`to_json`; raises DatastoreError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise DatastoreError("datastore checkpoint: expected an object")
        revision, entries, epoch = data.get("revision"), data.get("keys"), data.get("epoch", "")
        if not isinstance(revision, int) or not isinstance(entries, Mapping):
            raise DatastoreError("datastore checkpoint: 'revision' (int) and 'keys' required")
        if not isinstance(epoch, str):
            raise DatastoreError("datastore checkpoint: 'epoch' must be a string")
        known: dict[str, KnownKey] = {}
        for key, entry in entries.items():
            try:
                mod, create, dig, delivered = entry
                known[str(key)] = KnownKey(
                    int(mod), int(create), bytes.fromhex(dig), bool(delivered)
                )
            except (TypeError, ValueError) as exc:
                raise DatastoreError(f"datastore checkpoint: key {key}: {exc}") from exc
        return cls(revision, known, epoch)


class Translator(Protocol):
    """Turns a key's new value (or its deletion) into events; none for keys it ignores.

    ``upsert`` raises :class:`~contivpp.errors.InputError` (e.g. K8sObjectError) for a value
    it cannot parse; the key is then skipped with a log line.
    """

    def upsert(self, key: str, value: bytes) -> Sequence[Event]: ...

    def delete(self, key: str) -> Sequence[Event]: ...


class K8sTranslator:
    """Reflected Kubernetes objects -> ``K8sUpserted`` / ``K8sDeleted``; other keys ignored."""

    def upsert(self, key: str, value: bytes) -> Sequence[Event]:
        if keys.parse_object_key(key) is None:
            return ()
        decoded = decode_value(key, value)
        return (K8sUpserted(obj=decoded.obj, raw=decoded.raw),)

    def delete(self, key: str) -> Sequence[Event]:
        ref = keys.parse_object_key(key)
        if ref is None:
            return ()
        return (K8sDeleted(ref=ref, raw=minimal_raw(ref)),)


@attrs.define
class WatcherStats:
    published: int = 0
    upserts: int = 0
    deletes: int = 0
    ignored: int = 0  # keys no translator understands (status, allocatedIDs ...)
    unchanged: int = 0  # a newer revision with the same value: no event
    replayed: int = 0  # events seen again after a re-watch: no event
    malformed: int = 0
    snapshots: int = 0
    compactions: int = 0
    reconnects: int = 0
    data_losses: int = 0


_Mode = Literal["snapshot", "verify", "data_loss", "follow"]


class DatastoreWatcher:
    """Streams one etcd prefix to ``publish`` as events, exactly once and in revision order.

    ``resume`` continues from a :class:`Checkpoint` (taken with :meth:`checkpoint`) instead of
    starting with a snapshot. ``status_key`` is where the KSR reports ``synced``; after a data
    loss the watcher waits for it (None: do not wait).
    """

    def __init__(
        self,
        store: EtcdStore,
        publish: Publish,
        *,
        prefix: str = keys.KSR_PREFIX,
        resume: Checkpoint | None = None,
        translator: Translator | None = None,
        status_key: str | None = keys.KSR_STATUS_KEY,
        backoff: Backoff | None = None,
        status_poll: float = 0.5,
    ) -> None:
        self._store = store
        self._publish = publish
        self._prefix = prefix
        self._translator: Translator = translator or K8sTranslator()
        self._status_key = status_key
        self._backoff = backoff or Backoff(initial=0.1, maximum=3.0)
        self._status_poll = status_poll
        self._known: dict[str, KnownKey] = dict(resume.keys) if resume else {}
        self._last = resume.revision if resume else 0
        self._epoch = resume.epoch if resume else ""
        self._mode: _Mode = "verify" if resume else "snapshot"
        self.stats = WatcherStats()
        self.synced = asyncio.Event()
        self.connected = False

    @property
    def last_revision(self) -> int:
        """The highest etcd revision of which an event has been processed."""
        return self._last

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self._last, dict(self._known), self._epoch)

    def known_keys(self) -> Mapping[str, KnownKey]:
        return dict(self._known)

    async def run(self) -> None:
        """Run until cancelled; etcd failures are retried with back-off, never raised."""
        while True:
            try:
                if self._mode == "verify":
                    await self._verify()
                if self._mode == "data_loss":
                    await self._wait_for_ksr()
                    await self._resync("data loss")
                elif self._mode == "snapshot":
                    await self._resync("start" if not self.stats.snapshots else "compacted")
                self._mode = "follow"
                self._backoff.reset()
                self.synced.set()
                await self._follow()
            except DatastoreError as exc:
                if self.connected:
                    log.warning("datastore_disconnected", error=str(exc), revision=self._last)
                else:
                    log.debug("datastore_retry", error=str(exc), mode=self._mode)
                self.connected = False
                if self._mode == "follow":
                    self._mode = "verify"
                await self._backoff.sleep()

    # -- the three ways to (re)start ----------------------------------------------------------

    async def _verify(self) -> None:
        """After a reconnect: is the history we followed still in etcd? Else: data loss."""
        probe = await self._store.range(self._prefix)
        self._mark_connected()
        self.stats.reconnects += 1
        reason = self._history_mismatch(probe.revision, probe.kvs)
        if reason:
            self._data_loss(reason)
            return
        log.info("datastore_resumed", revision=self._last, store_revision=probe.revision)
        self._mode = "follow"

    def _history_mismatch(self, revision: int, kvs: Iterable[KeyValue]) -> str:
        if revision < self._last:
            return f"store revision {revision} is behind the last processed revision {self._last}"
        for kv in kvs:
            known = self._known.get(kv.key)
            # Every event before self._last was processed, so whatever etcd says changed before
            # it must be exactly what we know.
            if kv.mod_revision < self._last and (
                known is None
                or known.mod_revision != kv.mod_revision
                or known.digest != digest(kv.value)
            ):
                return f"{kv.key} changed at revision {kv.mod_revision} without an event"
            if kv.create_revision < self._last and (
                known is None or known.create_revision != kv.create_revision
            ):
                return f"{kv.key} was created at revision {kv.create_revision} without an event"
            if kv.key == self._status_key and self._epoch_changed(kv.value):
                return f"the KSR rebuilt etcd (epoch {_status_epoch(kv.value)})"
        return ""

    def _epoch_changed(self, status_value: bytes) -> bool:
        epoch = _status_epoch(status_value)
        return bool(self._epoch and epoch and epoch != self._epoch)

    def _data_loss(self, reason: str) -> None:
        self.stats.data_losses += 1
        log.warning("datastore_data_loss_detected", reason=reason, revision=self._last)
        self._mode = "data_loss"

    async def _wait_for_ksr(self) -> None:
        """Hold everything until the KSR has re-reflected the API into the emptied etcd."""
        if self._status_key is None:
            return
        waited = 0.0
        while True:
            kv, _ = await self._store.get(self._status_key)
            self._mark_connected()
            if kv is not None and _status_synced(kv.value):
                return
            if waited == 0.0 or waited >= 10.0:
                log.info("datastore_waiting_for_ksr", status_key=self._status_key)
                waited = 0.0
            await asyncio.sleep(self._status_poll)
            waited += self._status_poll

    async def _resync(self, reason: str) -> None:
        """Read a snapshot and publish the difference from what we know, deletes first."""
        snap = await self._store.range(self._prefix)
        self._mark_connected()
        self.stats.snapshots += 1
        present = {kv.key for kv in snap.kvs}
        gone = sorted(key for key in self._known if key not in present)
        published = self.stats.published
        for key in gone:
            await self._apply_delete(key, snap.revision)
        for kv in sorted(snap.kvs, key=lambda kv: (kv.mod_revision, kv.key)):
            await self._apply_put(kv.key, kv.value, kv.mod_revision, kv.create_revision)
        # After a data loss the store's revisions start over: follow the new history.
        self._last = snap.revision
        log.info(
            "datastore_snapshot_applied",
            reason=reason,
            revision=snap.revision,
            keys=len(snap.kvs),
            deleted=len(gone),
            events=self.stats.published - published,
        )

    # -- following the watch ------------------------------------------------------------------

    async def _follow(self) -> None:
        # Start at the last processed revision itself: if only part of it was published before
        # a restart, the rest comes again, and what was published is skipped by revision.
        stream = self._store.watch(self._prefix, max(self._last, 1))
        # aclosing: leaving the loop early must end the gRPC watch at once.
        async with contextlib.aclosing(stream):
            async for item in stream:
                self._mark_connected()
                if isinstance(item, Compacted):
                    self.stats.compactions += 1
                    log.warning(
                        "datastore_history_compacted",
                        revision=self._last,
                        compacted_revision=item.revision,
                    )
                    self._mode = "snapshot"
                    return
                if not await self._apply_batch(item):
                    return

    async def _apply_batch(self, batch: WatchBatch) -> bool:
        """Apply one watch response, a revision at a time; False on a detected data loss."""
        events = batch.events
        i = 0
        while i < len(events):
            revision = events[i].mod_revision
            j = i
            while j < len(events) and events[j].mod_revision == revision:
                j += 1
            group = events[i:j]
            for ev in group:
                if ev.key != self._status_key:
                    continue
                if ev.type == "DELETE":
                    # The KSR never deletes its status key: the prefix was wiped under us.
                    self._data_loss(f"{ev.key} deleted at revision {revision}")
                    return False
                if self._epoch_changed(ev.value):
                    # The KSR found etcd's data lost and is rebuilding it.
                    self._data_loss(f"the KSR rebuilt etcd (epoch {_status_epoch(ev.value)})")
                    return False
            for ev in group:
                await self._apply_event(ev)
            i = j
        return True

    async def _apply_event(self, ev: WatchEvent) -> None:
        if ev.type == "DELETE":
            if ev.key not in self._known:
                self.stats.replayed += 1
                return
            await self._apply_delete(ev.key, ev.mod_revision)
        else:
            known = self._known.get(ev.key)
            if known is not None and ev.mod_revision <= known.mod_revision:
                self.stats.replayed += 1
                return
            await self._apply_put(ev.key, ev.value, ev.mod_revision, ev.create_revision)
        self._last = max(self._last, ev.mod_revision)

    # -- one key --------------------------------------------------------------------------

    async def _apply_put(self, key: str, value: bytes, mod: int, create: int) -> None:
        if key == self._status_key:
            self._epoch = _status_epoch(value) or self._epoch
        known = self._known.get(key)
        dig = digest(value)
        if known is not None and known.digest == dig:
            self._known[key] = attrs.evolve(known, mod_revision=mod, create_revision=create)
            if known.mod_revision != mod:
                self.stats.unchanged += 1
            return
        delivered = known.delivered if known is not None else False
        try:
            events = self._translator.upsert(key, value)
        except InputError as exc:
            self.stats.malformed += 1
            log.warning("datastore_value_skipped", key=key, revision=mod, error=str(exc))
            events = ()
        else:
            if not events:
                self.stats.ignored += 1
                log.debug("datastore_key_ignored", key=key, revision=mod)
        for event in events:
            await self._publish(event)
            self.stats.published += 1
            self.stats.upserts += 1
            delivered = True
        self._known[key] = KnownKey(mod, create, dig, delivered)

    async def _apply_delete(self, key: str, revision: int) -> None:
        known = self._known[key]
        for event in self._translator.delete(key) if known.delivered else ():
            await self._publish(event)
            self.stats.published += 1
            self.stats.deletes += 1
        del self._known[key]

    def _mark_connected(self) -> None:
        if not self.connected:
            self.connected = True
            log.info("datastore_connected", endpoint=self._store.endpoint, revision=self._last)


def _status(value: bytes) -> dict[str, object]:
    try:
        status = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return status if isinstance(status, dict) else {}


def _status_synced(value: bytes) -> bool:
    return _status(value).get("synced") is True


def _status_epoch(value: bytes) -> str:
    epoch = _status(value).get("epoch")
    return epoch if isinstance(epoch, str) else ""
