"""The KSR's single writer: makes etcd hold exactly what the Kubernetes API holds.

Reflectors hand it changes; it keeps two maps per kind, *desired* (the API's objects, as
stored values) and *actual* (what etcd holds under the KSR prefix), and writes the keys where
they differ, in the order the changes came, in fenced transactions of up to ``txn_max_ops``
keys (a key never twice in one transaction, so no change is folded into a later one while
etcd is up). This is level-triggered, which is what makes every recovery the same small step:

* a (re-)list replaces a kind's desired map, so objects deleted while the watch was away are
  deleted from etcd (mark and sweep);
* when etcd was unreachable, the changes that came meanwhile are folded into desired, the
  actual map is re-read from etcd, and the difference is written;
* when etcd lost data (its revision went back, our status key vanished or changed, a kind
  holds another number of keys than we wrote), the actual map is re-read and everything is
  re-reflected.

The status key reports ``synced`` (every kind listed, nothing left to write) and the
counters. A refused fenced write, or an election key that is no longer ours, ends the term.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from collections.abc import Mapping

import attrs
import structlog

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import Delete, EtcdStore, Op, Put
from contivpp.datastore.values import dumps
from contivpp.errors import DatastoreError
from contivpp.events.k8s import KINDS, Kind
from contivpp.ksr.config import KSRConfig
from contivpp.ksr.election import Term
from contivpp.ksr.stats import KSRStats

log = structlog.get_logger("contivpp.ksr.mirror")

_MAX_TXN_BYTES = 1024 * 1024  # etcd refuses requests over 1.5 MiB


@attrs.frozen
class Upsert:
    kind: Kind
    key: str
    value: bytes


@attrs.frozen
class Remove:
    kind: Kind
    key: str


@attrs.frozen
class Replace:
    """A complete list of one kind. ``keep``: keys of malformed objects (keep what is stored)."""

    kind: Kind
    values: Mapping[str, bytes]
    keep: frozenset[str] = frozenset()


Change = Upsert | Remove | Replace


@attrs.define
class Watermark:
    """The highest etcd revision this process has seen: etcd's revision never goes back
    unless etcd lost its data."""

    revision: int = 0

    def observe(self, revision: int) -> int:
        """Record ``revision``; returns the old watermark if ``revision`` is behind it, else 0."""
        if revision < self.revision:
            behind, self.revision = self.revision, revision
            return behind
        self.revision = revision
        return 0


class Mirror:
    def __init__(
        self,
        store: EtcdStore,
        term: Term,
        config: KSRConfig,
        stats: KSRStats,
        watermark: Watermark,
        *,
        queue_size: int = 1024,
    ) -> None:
        self._store = store
        self._term = term
        self._config = config
        self._stats = stats
        self._watermark = watermark
        self._queue: asyncio.Queue[Change] = asyncio.Queue(queue_size)
        self._pending: Change | None = None
        self._listed: set[Kind] = set()
        self._desired: dict[Kind, dict[str, bytes]] = {k: {} for k in KINDS}
        self._actual: dict[Kind, dict[str, bytes]] = {k: {} for k in KINDS}
        self._dirty: dict[str, Kind] = {}  # insertion-ordered: the order changes came in
        self._healthy = False  # etcd reachable and self._actual read from it
        self._status_revision = 0  # mod revision of our last status write in this term
        # Changes whenever etcd's content had to be rebuilt (data loss, or no status key at
        # the start of a term): tells agents that deletes may have been lost meanwhile.
        self._epoch = ""
        self._written_synced: bool | None = None
        self._written_stats: dict[str, object] | None = None
        self._status_due = 0.0
        self._check_due = 0.0
        self.synced = asyncio.Event()

    async def submit(self, change: Change) -> None:
        """Queue a change (waits while the writer is behind)."""
        await self._queue.put(change)

    def objects(self, kind: Kind) -> int:
        """How many objects of ``kind`` etcd holds, as last read or written by this term."""
        return len(self._actual[kind])

    @property
    def is_synced(self) -> bool:
        return self._healthy and not self._dirty and self._listed >= set(self._config.kinds)

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Write until cancelled; raises DatastoreError only when the term has ended."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(initial=0.1, maximum=self._config.etcd_backoff_max)
        while True:
            try:
                if not self._healthy:
                    await self._load()
                    backoff.reset()
                await self._flush()
                now = loop.time()
                if now >= self._check_due:
                    reason = await self._check(counts=True)
                    self._check_due = now + self._config.check_interval
                    if reason:
                        self._data_loss(reason)
                        continue
                await self._write_status_if_due(now)
            except DatastoreError as exc:
                if self._term.ended.is_set():
                    raise
                self._stats.etcd_errors += 1
                if self._healthy:
                    log.warning("ksr_etcd_unavailable", error=str(exc))
                self._healthy = False
                self.synced.clear()
                await self._absorb(backoff.next_delay(), coalesce=True)
                continue
            wake = self._check_due
            if self._status_due:
                wake = min(wake, self._status_due)
            await self._absorb(max(0.0, wake - loop.time()), coalesce=False)

    async def _absorb(self, within: float, *, coalesce: bool) -> None:
        """Take the changes that come within ``within`` seconds into desired.

        ``coalesce=False`` (etcd up): return at the first change that touches a key still
        waiting to be written, or when a transaction's worth is waiting, so that every
        change reaches etcd. ``coalesce=True`` (etcd down): take everything until the
        time is up, a later change of a key replacing an earlier one.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            change = self._pending
            self._pending = None
            if change is None:
                try:
                    change = await asyncio.wait_for(
                        self._queue.get(), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    return
            while True:
                if not coalesce and self._dirty and self._conflicts(change):
                    self._pending = change
                    return
                self._apply(change)
                if not coalesce and len(self._dirty) >= self._config.txn_max_ops:
                    return
                try:
                    change = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
            if not coalesce:
                return

    def _conflicts(self, change: Change) -> bool:
        if isinstance(change, Replace):
            return True
        return change.key in self._dirty

    def _apply(self, change: Change) -> None:
        if isinstance(change, Upsert):
            self._desired[change.kind][change.key] = change.value
            self._mark(change.key, change.kind)
        elif isinstance(change, Remove):
            self._desired[change.kind].pop(change.key, None)
            self._mark(change.key, change.kind)
        else:
            kind = change.kind
            old = self._desired[kind]
            new = dict(change.values)
            for key in change.keep:
                kept = old.get(key, self._actual[kind].get(key))
                if kept is not None:
                    new[key] = kept
            self._desired[kind] = new
            self._listed.add(kind)
            for key in (*old, *new, *self._actual[kind]):
                self._mark(key, kind)

    def _mark(self, key: str, kind: Kind) -> None:
        self._dirty.pop(key, None)  # a later change moves the key to the end
        self._dirty[key] = kind

    # -- etcd -----------------------------------------------------------------------------

    async def _load(self) -> None:
        """(Re)read what etcd holds and mark every key of every listed kind for a write."""
        reason = await self._check(counts=False)
        if not self._epoch:
            status, _ = await self._store.get(keys.KSR_STATUS_KEY)
            self._epoch = _epoch_of(status.value) if status is not None else ""
            if not self._epoch:
                self._epoch = uuid.uuid4().hex
                log.info("ksr_epoch_started", epoch=self._epoch, reason="no status key in etcd")
        snap = await self._store.range(keys.K8S_PREFIX)
        behind = self._watermark.observe(snap.revision)
        if behind and not reason:
            reason = f"etcd revision went back from {behind} to {snap.revision}"
        if reason:
            self._data_loss(reason)
        actual: dict[Kind, dict[str, bytes]] = {k: {} for k in KINDS}
        for kv in snap.kvs:
            kind = keys.kind_of_key(kv.key)
            if kind is not None:
                actual[kind][kv.key] = kv.value
        self._actual = actual
        self._stats.full_resyncs += 1
        for kind in self._listed:
            for key in (*self._desired[kind], *actual[kind]):
                self._mark(key, kind)
        self._healthy = True
        log.info(
            "ksr_etcd_view_loaded",
            revision=snap.revision,
            keys=len(snap.kvs),
            to_check=len(self._dirty),
        )
        if not self.is_synced:
            await self._write_status(synced=False)

    async def _flush(self) -> None:
        """Write every dirty key whose desired value differs from etcd's, in order."""
        while self._dirty:
            ops: list[Op] = []
            batch: list[tuple[str, Kind, bytes | None]] = []
            settled: list[str] = []
            size = 0
            for key, kind in self._dirty.items():
                if kind not in self._listed:
                    settled.append(key)  # not listed yet: leave etcd as it is
                    continue
                target = self._desired[kind].get(key)
                if target == self._actual[kind].get(key):
                    settled.append(key)
                    continue
                ops.append(Put(key, target) if target is not None else Delete(key))
                batch.append((key, kind, target))
                size += len(key) + len(target or b"")
                if len(ops) >= self._config.txn_max_ops or size >= _MAX_TXN_BYTES:
                    break
            for key in settled:
                del self._dirty[key]
            if not ops:
                continue
            result = await self._store.txn([self._term.fence], ops)
            if not result.succeeded:
                self._term.end("a fenced write was refused: the election key is not ours")
                raise DatastoreError("leadership lost: fenced write refused")
            self._watermark.observe(result.revision)
            self._stats.txns += 1
            for key, kind, target in batch:
                stats = self._stats.kind(kind)
                before = self._actual[kind].get(key)
                if target is None:
                    self._actual[kind].pop(key, None)
                    stats.deletes += 1
                else:
                    self._actual[kind][key] = target
                    if before is None:
                        stats.adds += 1
                    else:
                        stats.updates += 1
                del self._dirty[key]
        if self.is_synced:
            self.synced.set()

    async def _check(self, *, counts: bool) -> str:
        """Is the term still ours, and does etcd still hold what we wrote? '' if so."""
        leader, revision = await self._store.get(keys.ELECTION_KEY)
        if leader is None or leader.create_revision != self._term.revision:
            self._term.end("the election key is gone or belongs to another term")
            raise DatastoreError("leadership lost: election key changed")
        behind = self._watermark.observe(revision)
        if behind:
            return f"etcd revision went back from {behind} to {revision}"
        if self._status_revision:
            status, _ = await self._store.get(keys.KSR_STATUS_KEY)
            if status is None:
                return "the status key was deleted"
            if status.mod_revision != self._status_revision:
                return (
                    f"the status key was rewritten at revision {status.mod_revision} "
                    f"(ours: {self._status_revision})"
                )
        if counts and self._healthy:
            for kind in sorted(self._listed):
                count, _ = await self._store.count(keys.kind_prefix(kind))
                if count != len(self._actual[kind]):
                    return (
                        f"{keys.kind_prefix(kind)} holds {count} keys, "
                        f"{len(self._actual[kind])} were written"
                    )
        return ""

    def _data_loss(self, reason: str) -> None:
        self._stats.data_losses += 1
        log.warning("ksr_etcd_data_loss_detected", reason=reason, term=self._term.revision)
        self._healthy = False
        self._status_revision = 0
        self._written_synced = None
        self._epoch = uuid.uuid4().hex
        self.synced.clear()

    # -- status -----------------------------------------------------------------------------

    async def _write_status_if_due(self, now: float) -> None:
        synced = self.is_synced
        if synced != self._written_synced:
            await self._write_status(synced=synced)
        elif now >= self._status_due:
            if self._stats.to_json() != self._written_stats:
                await self._write_status(synced=synced)
            else:
                self._status_due = now + self._config.status_interval

    async def _write_status(self, *, synced: bool) -> None:
        stats = self._stats.to_json()
        doc = {
            "identity": self._term.identity,
            "term": self._term.revision,
            "synced": synced,
            "epoch": self._epoch,
            "updated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **stats,
        }
        result = await self._store.txn([self._term.fence], [Put(keys.KSR_STATUS_KEY, dumps(doc))])
        if not result.succeeded:
            self._term.end("a fenced status write was refused")
            raise DatastoreError("leadership lost: fenced write refused")
        self._watermark.observe(result.revision)
        self._status_revision = result.revision
        if synced != self._written_synced:
            log.info("ksr_status", synced=synced, term=self._term.revision)
        self._written_synced = synced
        self._written_stats = stats
        self._status_due = asyncio.get_running_loop().time() + self._config.status_interval


def _epoch_of(value: bytes) -> str:
    try:
        status = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    epoch = status.get("epoch") if isinstance(status, dict) else None
    return epoch if isinstance(epoch, str) else ""
