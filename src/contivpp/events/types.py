"""Typed events: every input the agent reacts to, as a frozen value.

Events are the only way anything enters the control plane, which is what makes a run
replayable: record the events, feed them again, get the same state and the same VPP calls.
An event carries exactly the data the fold needs; CNI events additionally carry an optional
``reply`` future so the gRPC handler that produced them can wait for the outcome (the future
is not part of equality and is never recorded).
"""

from __future__ import annotations

import asyncio
from typing import TypeAlias

import attrs

from contivpp.config import AgentConfig
from contivpp.events.k8s import K8sObject, ObjectRef


@attrs.frozen
class K8sUpserted:
    """A Kubernetes object was created or changed (as reflected by the KSR)."""

    obj: K8sObject
    raw: dict[str, object] = attrs.field(eq=False, repr=False, factory=dict)


@attrs.frozen
class K8sDeleted:
    """A Kubernetes object was deleted."""

    ref: ObjectRef
    raw: dict[str, object] = attrs.field(eq=False, repr=False, factory=dict)


@attrs.frozen
class NodeIDAllocated:
    """A node holds an ID in etcd (this node's own ID, or another node's)."""

    name: str
    id: int
    ip_addresses: tuple[str, ...] = ()


@attrs.frozen
class NodeIDReleased:
    """A node gave up its ID (the node left the cluster)."""

    name: str
    id: int


@attrs.frozen
class CNIOutcome:
    """What the agent answers a CNI caller once the pod's config is applied (or failed)."""

    ip: str = ""
    gateway: str = ""
    mac: str = ""
    error: str = ""


CNIReply: TypeAlias = "asyncio.Future[CNIOutcome]"


@attrs.frozen
class CNIAdd:
    """kubelet asked (through the CNI plugin) to wire a pod sandbox.

    ``ip`` is set only when the agent restores a pod it wired before a restart: the pod keeps
    that address (the fold refuses it if another pod holds it).
    """

    container_id: str
    netns: str
    ifname: str
    pod_namespace: str
    pod_name: str
    ip: str = ""
    reply: CNIReply | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class CNIDel:
    """kubelet asked to unwire a pod sandbox (idempotent)."""

    container_id: str
    netns: str
    ifname: str
    pod_namespace: str
    pod_name: str
    reply: CNIReply | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class AllocatorPositionRestored:
    """The agent restored the pod allocator's round-robin position from its local record.

    Published after the restored pods' ``CNIAdd`` events, so a new pod after a restart gets
    the address after the last one handed out before it, not one released moments before.
    """

    ip: str


@attrs.frozen
class VPPConnected:
    """The VPP API connection is up (first connect or reconnect to the same VPP)."""


@attrs.frozen
class VPPRestarted:
    """VPP restarted and lost its configuration: the reconciler must resync downstream."""


@attrs.frozen
class ResyncRequested:
    """Full resync: re-read the southbound and converge to the desired state."""

    reason: str = ""


@attrs.frozen
class ConfigChanged:
    """The agent configuration changed (e.g. reloaded file)."""

    config: AgentConfig


Event: TypeAlias = (
    K8sUpserted
    | K8sDeleted
    | NodeIDAllocated
    | NodeIDReleased
    | CNIAdd
    | CNIDel
    | AllocatorPositionRestored
    | VPPConnected
    | VPPRestarted
    | ResyncRequested
    | ConfigChanged
)
