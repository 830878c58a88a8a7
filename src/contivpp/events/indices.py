"""Secondary indices of the cluster state, so a change finds what it affects without a scan.

Kept beside the objects in :class:`~contivpp.events.state.ClusterState`, persistent (HAMT maps)
and updated by the fold in O(changed objects):

- namespace -> pods, and label (key, value) -> pods;
- service -> its EndpointSlices; services with node ports; services with source ranges;
- *selections*: named pod sets chosen by label selectors (a service's selector, a policy's
  pod selector, each policy peer), with selection -> matching pods and pod -> the selections
  that match it. Candidate selections for a pod come from an index of selections by one
  required label (or by namespace for selectors without matchLabels), so a pod's label
  change evaluates only selections that could match it; a namespace's label change evaluates
  only selections with a namespace selector against that namespace's pods.

Pods here are the Kubernetes Pod objects of every node (labels live there), keyed by
(namespace, name).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import immutables

from contivpp.events import k8s
from contivpp.events.frozen import replace

ObjKey = tuple[str, str]
SelectionId = tuple[str, ...]
"""Who owns a selection: ("Service", ns, name), ("NetworkPolicy", ns, name, "pods"), ..."""

K = TypeVar("K")
V = TypeVar("V")
SetMap = immutables.Map[V, None]
"""A persistent set: its keys map to None."""


_NONE: immutables.Map[Any, None] = immutables.Map()


@attrs.frozen
class Selection:
    """Pods whose labels match ``pod_selector``, in ``namespace`` when it is set, otherwise
    in every namespace whose labels match ``namespace_selector`` (None: every namespace)."""

    pod_selector: k8s.LabelSelector
    namespace: str | None = None
    namespace_selector: k8s.LabelSelector | None = None

    def anchor(self) -> tuple[str, str] | None:
        """One label every selected pod must carry (the first matchLabels pair), if any."""
        return self.pod_selector.match_labels[0] if self.pod_selector.match_labels else None


def _add(m: immutables.Map[K, SetMap[V]], key: K, item: V) -> immutables.Map[K, SetMap[V]]:
    return m.set(key, m.get(key, _NONE).set(item, None))


def _remove(m: immutables.Map[K, SetMap[V]], key: K, item: V) -> immutables.Map[K, SetMap[V]]:
    inner = m.get(key)
    if inner is None or item not in inner:
        return m
    inner = inner.delete(item)
    return m.set(key, inner) if inner else m.delete(key)


@attrs.frozen
class Indices:
    pods_by_namespace: immutables.Map[str, immutables.Map[ObjKey, None]] = immutables.Map()
    pods_by_label: immutables.Map[tuple[str, str], immutables.Map[ObjKey, None]] = immutables.Map()
    slices_by_service: immutables.Map[ObjKey, immutables.Map[ObjKey, None]] = immutables.Map()
    selections: immutables.Map[SelectionId, Selection] = immutables.Map()
    selected: immutables.Map[SelectionId, immutables.Map[ObjKey, None]] = immutables.Map()
    selections_of_pod: immutables.Map[ObjKey, immutables.Map[SelectionId, None]] = immutables.Map()
    #: Candidate lookup: selections by their anchor label ...
    by_anchor: immutables.Map[tuple[str, str], immutables.Map[SelectionId, None]] = immutables.Map()
    #: ... and those without one, by fixed namespace (None: any namespace).
    unanchored: immutables.Map[str | None, immutables.Map[SelectionId, None]] = immutables.Map()
    #: Selections that depend on namespace labels.
    by_namespace_labels: immutables.Map[SelectionId, None] = immutables.Map()
    #: Services with node ports (they depend on every node's addresses) ...
    node_port_services: immutables.Map[ObjKey, None] = immutables.Map()
    #: ... and LoadBalancer services with source ranges (one ACL each on the host link).
    source_range_services: immutables.Map[ObjKey, None] = immutables.Map()
    #: Policies whose rules depend on every pod (:func:`names_every_pod`) ...
    every_pod_policies: immutables.Map[ObjKey, None] = immutables.Map()
    #: ... and those with a selector peer that takes any pod (it also names local pods that
    #: are not reflected from Kubernetes yet, which no selection holds).
    any_pod_peer_policies: immutables.Map[ObjKey, None] = immutables.Map()

    # ---- queries --------------------------------------------------------------------------
    def pods_selected(self, sid: SelectionId) -> Iterator[ObjKey]:
        return iter(self.selected.get(sid, _NONE))

    def selections_matching(self, pod: ObjKey) -> Iterator[SelectionId]:
        return iter(self.selections_of_pod.get(pod, _NONE))

    def slices_of(self, service: ObjKey) -> Iterator[ObjKey]:
        return iter(self.slices_by_service.get(service, _NONE))

    def pods_in(self, namespace: str) -> Iterator[ObjKey]:
        return iter(self.pods_by_namespace.get(namespace, _NONE))

    def pods_labelled(self, key: str, value: str) -> Iterator[ObjKey]:
        return iter(self.pods_by_label.get((key, value), _NONE))


Pods = Mapping[ObjKey, k8s.K8sObject]
Namespaces = Mapping[ObjKey, k8s.K8sObject]


def _ns_labels(namespaces: Namespaces, name: str) -> k8s.Labels:
    """A namespace's labels with the name label the API server guarantees on each one (a
    namespace not reflected yet still has its name)."""
    ns = namespaces.get(("", name))
    labels = dict(ns.labels) if isinstance(ns, k8s.Namespace) else {}
    labels[k8s.NAMESPACE_NAME_LABEL] = name
    return tuple(sorted(labels.items()))


def _matches(
    sel: Selection, pod: k8s.Pod, labels: Mapping[str, str], namespaces: Namespaces
) -> bool:
    if sel.namespace is not None:
        if pod.namespace != sel.namespace:
            return False
    elif sel.namespace_selector is not None and not sel.namespace_selector.matches(
        _ns_labels(namespaces, pod.namespace)
    ):
        return False
    return sel.pod_selector.matches_map(labels)


def _set_match(idx: Indices, sid: SelectionId, pod: ObjKey, match: bool) -> Indices:
    current = pod in idx.selected.get(sid, _NONE)
    if match == current:
        return idx
    if match:
        return replace(
            idx,
            selected=_add(idx.selected, sid, pod),
            selections_of_pod=_add(idx.selections_of_pod, pod, sid),
        )
    return replace(
        idx,
        selected=_remove(idx.selected, sid, pod),
        selections_of_pod=_remove(idx.selections_of_pod, pod, sid),
    )


def pod_changed(
    idx: Indices, key: ObjKey, old: k8s.Pod | None, new: k8s.Pod | None, namespaces: Namespaces
) -> Indices:
    """Index a pod's upsert (``new``) or deletion (``new`` None)."""
    by_ns, by_label = idx.pods_by_namespace, idx.pods_by_label
    old_labels = old.labels if old is not None else ()
    new_labels = new.labels if new is not None else ()
    if old is not None and new is None:
        by_ns = _remove(by_ns, key[0], key)
    if old is None and new is not None:
        by_ns = _add(by_ns, key[0], key)
    if old_labels != new_labels:
        for pair in set(old_labels) - set(new_labels):
            by_label = _remove(by_label, pair, key)
        for pair in set(new_labels) - set(old_labels):
            by_label = _add(by_label, pair, key)
    idx = replace(idx, pods_by_namespace=by_ns, pods_by_label=by_label)
    candidates = set(idx.selections_of_pod.get(key, _NONE))
    if new is not None:
        for pair in new_labels:
            candidates.update(idx.by_anchor.get(pair, _NONE))
        candidates.update(idx.unanchored.get(key[0], _NONE))
        candidates.update(idx.unanchored.get(None, _NONE))
        labels = dict(new_labels)
    for sid in sorted(candidates):
        match = new is not None and _matches(idx.selections[sid], new, labels, namespaces)
        idx = _set_match(idx, sid, key, match)
    return idx


def namespace_changed(idx: Indices, name: str, pods: Pods, namespaces: Namespaces) -> Indices:
    """Re-evaluate the selections that look at namespace labels, for that namespace's pods.
    ``namespaces`` is the map after the change."""
    for sid in sorted(idx.by_namespace_labels):
        sel = idx.selections[sid]
        for key in sorted(idx.pods_in(name)):
            pod = pods.get(key)
            if isinstance(pod, k8s.Pod):
                match = _matches(sel, pod, dict(pod.labels), namespaces)
                idx = _set_match(idx, sid, key, match)
    return idx


def _candidate_pods(idx: Indices, sel: Selection, namespaces: Namespaces) -> Iterable[ObjKey]:
    anchor = sel.anchor()
    if anchor is not None:
        return idx.pods_labelled(*anchor)
    if sel.namespace is not None:
        return idx.pods_in(sel.namespace)
    return (key for ns in idx.pods_by_namespace for key in idx.pods_in(ns))


def set_selection(
    idx: Indices, sid: SelectionId, sel: Selection | None, pods: Pods, namespaces: Namespaces
) -> Indices:
    """Add, change (``sel``) or remove (None) one selection and compute its pods."""
    old = idx.selections.get(sid)
    if old == sel:
        return idx
    if old is not None:
        for key in list(idx.pods_selected(sid)):
            idx = _set_match(idx, sid, key, False)
        anchor = old.anchor()
        idx = replace(
            idx,
            selections=idx.selections.delete(sid),
            by_anchor=_remove(idx.by_anchor, anchor, sid) if anchor else idx.by_anchor,
            unanchored=idx.unanchored if anchor else _remove(idx.unanchored, old.namespace, sid),
            by_namespace_labels=idx.by_namespace_labels.delete(sid)
            if sid in idx.by_namespace_labels
            else idx.by_namespace_labels,
        )
    if sel is None:
        return idx
    anchor = sel.anchor()
    idx = replace(
        idx,
        selections=idx.selections.set(sid, sel),
        by_anchor=_add(idx.by_anchor, anchor, sid) if anchor else idx.by_anchor,
        unanchored=idx.unanchored if anchor else _add(idx.unanchored, sel.namespace, sid),
        by_namespace_labels=idx.by_namespace_labels.set(sid, None)
        if sel.namespace is None and sel.namespace_selector is not None
        else idx.by_namespace_labels,
    )
    for key in sorted(_candidate_pods(idx, sel, namespaces)):
        pod = pods.get(key)
        if isinstance(pod, k8s.Pod) and _matches(sel, pod, dict(pod.labels), namespaces):
            idx = _set_match(idx, sid, key, True)
    return idx


def slice_changed(
    idx: Indices, key: ObjKey, old: k8s.EndpointSlice | None, new: k8s.EndpointSlice | None
) -> Indices:
    by_service = idx.slices_by_service
    if old is not None and old.service_name:
        by_service = _remove(by_service, (key[0], old.service_name), key)
    if new is not None and new.service_name:
        by_service = _add(by_service, (key[0], new.service_name), key)
    return replace(idx, slices_by_service=by_service)


def service_changed(idx: Indices, key: ObjKey, new: k8s.Service | None) -> Indices:
    node_ports = new is not None and any(p.node_port for p in new.ports)
    ranges = new is not None and new.type == "LoadBalancer" and bool(new.lb_source_ranges)
    return replace(
        idx,
        node_port_services=_flag(idx.node_port_services, key, node_ports),
        source_range_services=_flag(idx.source_range_services, key, ranges),
    )


def names_every_pod(policy: k8s.NetworkPolicy) -> bool:
    """An egress rule with a named port that reaches pods by address (no peers, or an
    ipBlock) depends on every pod's container ports."""
    for rule in policy.egress:
        named = any(isinstance(p.port, str) for p in rule.ports)
        if named and (not rule.peers or any(p.ip_block is not None for p in rule.peers)):
            return True
    return False


def _any_pod_peer(policy: k8s.NetworkPolicy) -> bool:
    return any(
        (peer.pod_selector is not None or peer.namespace_selector is not None)
        and (peer.pod_selector is None or peer.pod_selector == k8s.LabelSelector())
        for rule in (*policy.ingress, *policy.egress)
        for peer in rule.peers
    )


def policy_changed(idx: Indices, key: ObjKey, new: k8s.NetworkPolicy | None) -> Indices:
    return replace(
        idx,
        every_pod_policies=_flag(
            idx.every_pod_policies, key, new is not None and names_every_pod(new)
        ),
        any_pod_peer_policies=_flag(
            idx.any_pod_peer_policies, key, new is not None and _any_pod_peer(new)
        ),
    )


def _flag(
    members: immutables.Map[ObjKey, None], key: ObjKey, on: bool
) -> immutables.Map[ObjKey, None]:
    if on:
        return members if key in members else members.set(key, None)
    return members.delete(key) if key in members else members


def selections_of(obj: k8s.K8sObject) -> dict[SelectionId, Selection]:
    """The selections a Service or NetworkPolicy defines."""
    if isinstance(obj, k8s.Service):
        if not obj.selector:  # a service without a selector selects no pod
            return {}
        return {
            ("Service", obj.namespace, obj.name): Selection(
                k8s.LabelSelector(obj.selector), namespace=obj.namespace
            )
        }
    if isinstance(obj, k8s.NetworkPolicy):
        out: dict[SelectionId, Selection] = {
            ("NetworkPolicy", obj.namespace, obj.name, "pods"): Selection(
                obj.pod_selector, namespace=obj.namespace
            )
        }
        for direction, rules in (("ingress", obj.ingress), ("egress", obj.egress)):
            for i, rule in enumerate(rules):
                for j, peer in enumerate(rule.peers):
                    if peer.pod_selector is None and peer.namespace_selector is None:
                        continue  # an ipBlock
                    sid = ("NetworkPolicy", obj.namespace, obj.name, direction, str(i), str(j))
                    out[sid] = Selection(
                        peer.pod_selector or k8s.LabelSelector(),
                        namespace=obj.namespace if peer.namespace_selector is None else None,
                        namespace_selector=peer.namespace_selector,
                    )
        return out
    return {}
