"""Leader election on an etcd lease, so that of several KSR replicas exactly one writes.

Like Contiv's KSR (and etcd's own ``concurrency.Election``): a replica becomes leader by
creating the election key with a lease it keeps alive; the key's create revision is the
term's fencing token. Every write the leader makes is a transaction that first compares the
election key's create revision with its token, so a replica that lost its lease (partition,
pause, etcd wiped) cannot write even before it notices: etcd refuses. A standby polls the key
and campaigns as soon as it is gone (a resigning leader revokes its lease at once; a crashed
one lets it expire after the TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import attrs
import structlog

from contivpp.datastore import keys
from contivpp.datastore.backoff import Backoff
from contivpp.datastore.etcd import CreateRevisionIs, EtcdStore, Put
from contivpp.errors import DatastoreError

log = structlog.get_logger("contivpp.ksr.election")


@attrs.define(eq=False)
class Term:
    """One period of leadership."""

    identity: str
    lease_id: int
    revision: int  # create revision of the election key: the fencing token
    ttl: int
    ended: asyncio.Event = attrs.field(factory=asyncio.Event)
    reason: str = ""

    @property
    def fence(self) -> CreateRevisionIs:
        """The compare every write of this term carries."""
        return CreateRevisionIs(keys.ELECTION_KEY, self.revision)

    def end(self, reason: str, *, resigned: bool = False) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()
            fields = {"identity": self.identity, "term": self.revision, "reason": reason}
            if resigned:
                log.info("ksr_leadership_resigned", **fields)
            else:
                log.warning("ksr_leadership_lost", **fields)


async def campaign(store: EtcdStore, identity: str, ttl: int, *, poll: float) -> Term:
    """Wait until this replica holds the election key; returns its term."""
    backoff = Backoff(initial=0.2, maximum=5.0)
    announced = False
    value = json.dumps({"identity": identity}).encode()
    while True:
        try:
            lease = await store.grant_lease(ttl)
            result = await store.txn(
                [CreateRevisionIs(keys.ELECTION_KEY, 0)], [Put(keys.ELECTION_KEY, value, lease)]
            )
            if result.succeeded:
                log.info("ksr_leader_elected", identity=identity, term=result.revision, ttl=ttl)
                return Term(identity, lease, result.revision, ttl)
            await store.revoke_lease(lease)
            backoff.reset()
            if not announced:
                holder, _ = await store.get(keys.ELECTION_KEY)
                log.info(
                    "ksr_standby",
                    identity=identity,
                    leader=holder.value.decode(errors="replace") if holder else "",
                )
                announced = True
            await _wait_vacant(store, poll)
        except DatastoreError as exc:
            log.warning("ksr_campaign_failed", identity=identity, error=str(exc))
            await backoff.sleep()


async def _wait_vacant(store: EtcdStore, poll: float) -> None:
    while True:
        holder, _ = await store.get(keys.ELECTION_KEY)
        if holder is None:
            return
        await asyncio.sleep(poll)


async def keep_alive(store: EtcdStore, term: Term) -> None:
    """Refresh the term's lease every TTL/3 until the lease is gone (then end the term).

    While etcd is unreachable the term goes on: nothing can be written then anyway, and
    when etcd is back the lease (which etcd extends across its own restarts) either still
    exists or does not, and the fenced writes tell the truth in both cases.
    """
    interval = term.ttl / 3
    while not term.ended.is_set():
        await asyncio.sleep(interval)
        try:
            remaining = await store.refresh_lease(term.lease_id)
        except DatastoreError as exc:
            log.warning("ksr_lease_refresh_failed", term=term.revision, error=str(exc))
            continue
        if remaining <= 0:
            term.end("lease expired")
            return


async def resign(store: EtcdStore, term: Term) -> None:
    """Give leadership up at once (revoking the lease deletes the election key)."""
    term.end("resigned", resigned=True)
    with contextlib.suppress(DatastoreError, TimeoutError):
        async with asyncio.timeout(2.0):
            await store.revoke_lease(term.lease_id)
