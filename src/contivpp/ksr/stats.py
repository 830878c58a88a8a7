"""The KSR's counters: what it wrote, skipped and recovered from, per kind and overall.

They go to the status key (``/vnf-agent/contiv-ksr/status/ksr``) like Contiv's
``status/gauges``, so an operator (and the tests) can see, in etcd itself, whether the KSR
is synced, how often it re-listed or found etcd data lost, and which objects it skipped.
"""

from __future__ import annotations

import attrs

from contivpp.datastore import keys
from contivpp.events.k8s import KINDS, Kind


@attrs.define
class KindStats:
    adds: int = 0  # keys created in etcd
    updates: int = 0  # keys rewritten with a new value
    deletes: int = 0  # keys deleted (watch deletes and sweeps)
    skipped: int = 0  # malformed objects, never written
    lists: int = 0  # complete lists (start, 410, errors)
    expired: int = 0  # 410 Gone answers that forced a re-list
    api_errors: int = 0
    watches: int = 0  # watch requests opened
    bookmarks: int = 0
    resource_version: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "adds": self.adds,
            "updates": self.updates,
            "deletes": self.deletes,
            "skipped": self.skipped,
            "lists": self.lists,
            "expired": self.expired,
            "apiErrors": self.api_errors,
            "watches": self.watches,
            "bookmarks": self.bookmarks,
            "resourceVersion": self.resource_version,
        }


@attrs.define
class KSRStats:
    kinds: dict[Kind, KindStats] = attrs.field(factory=lambda: {k: KindStats() for k in KINDS})
    terms: int = 0  # leadership terms started
    txns: int = 0  # successful etcd write transactions
    etcd_errors: int = 0
    data_losses: int = 0  # etcd data loss detected (revision went back, keys gone)
    full_resyncs: int = 0  # the whole etcd view re-read and re-converged

    def kind(self, kind: Kind) -> KindStats:
        return self.kinds[kind]

    def to_json(self) -> dict[str, object]:
        return {
            "resources": {keys.KIND_FOLDERS[k]: s.to_json() for k, s in self.kinds.items()},
            "terms": self.terms,
            "txns": self.txns,
            "etcdErrors": self.etcd_errors,
            "dataLosses": self.data_losses,
            "fullResyncs": self.full_resyncs,
        }
