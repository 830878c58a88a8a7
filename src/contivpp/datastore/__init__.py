"""etcd, as both sides of the KSR see it: the key layout, the stored values, the typed etcd
boundary, and the agent-side watcher that turns the KSR prefix into events.

The KSR (``contivpp.ksr``) writes with :mod:`~contivpp.datastore.keys` and
:mod:`~contivpp.datastore.values`; an agent runs a :class:`DatastoreWatcher` that publishes
``K8sUpserted`` / ``K8sDeleted`` onto its event bus, exactly once each and in revision order,
across etcd restarts, compactions and data loss.
"""

from contivpp.datastore.etcd import EtcdStore, parse_endpoints
from contivpp.datastore.watcher import (
    Checkpoint,
    DatastoreWatcher,
    K8sTranslator,
    KnownKey,
    Translator,
    WatcherStats,
)

__all__ = [
    "Checkpoint",
    "DatastoreWatcher",
    "EtcdStore",
    "K8sTranslator",
    "KnownKey",
    "Translator",
    "WatcherStats",
    "parse_endpoints",
]
