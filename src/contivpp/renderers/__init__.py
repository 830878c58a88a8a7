"""Pure renderers: cluster state + node config -> the desired key/value set.

No I/O, no clock, no randomness: the same state gives the same set, byte for byte. The agent
renders per event (only what the event can change); replay and tests render whole sets.
"""

from __future__ import annotations

from contivpp.events.state import ClusterState
from contivpp.reconcile.api import Key
from contivpp.renderers import node, pods

DesiredSet = dict[Key, object]


def render(state: ClusterState) -> DesiredSet:
    """The complete desired set of this node, keys sorted."""
    desired: DesiredSet = {}
    if state.node_id is not None:
        desired.update(node.render_node(state))
        for key in sorted(state.local_pods.keys()):
            desired.update(pods.render_pod(state.config, state.node_id, state.local_pods[key]))
    return dict(sorted(desired.items()))
