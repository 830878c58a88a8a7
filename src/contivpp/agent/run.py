"""``contivpp agent``: one node's vSwitch agent, every piece around one ordered event loop.

Start-up order matters, and is the reason this module exists:

0. with STN: have the daemon steal the NIC and start the keep-alives at once (VPP and etcd
   may take longer than the daemon's keep-alive timeout to answer);
1. connect to VPP, claim the node ID in etcd;
2. build the state without touching VPP: this node's ID, the pods it wired before a
   restart (local record), the other nodes, the Kubernetes snapshot from etcd;
3. one **startup resync**: read VPP back and converge it to that state (a restarted agent
   finds VPP still configured and must neither duplicate nor wipe what is right);
4. only then serve CNI, so every answer means "applied".

After that, every input is an event on the bus: etcd changes, CNI requests, other nodes,
VPP restarts (-> downstream resync). The HTTP endpoint reports liveness, readiness and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence

import attrs
import structlog

from contivpp import ipam
from contivpp.agent import health_checks
from contivpp.agent.health_checks import HealthCheck, HealthCheckServers
from contivpp.agent.http import serve_http
from contivpp.agent.metrics import AgentCollector, AgentMetrics, MeasuredVPPClient
from contivpp.agent.nodeid import allocate_node_id, release_node_ids
from contivpp.agent.nodes import AgentTranslator
from contivpp.agent.podstore import PodSaver, load_pods, load_position
from contivpp.agent.settings import AgentSettings, STNSettings
from contivpp.cni.check import verify_pod
from contivpp.cni.grpc_server import start_grpc
from contivpp.cni.server import PodCNIHandler, serve_relay
from contivpp.config import AgentConfig
from contivpp.controller import Controller, ReconcilerSink
from contivpp.datastore.etcd import EtcdStore, parse_endpoints
from contivpp.datastore.watcher import DatastoreWatcher
from contivpp.errors import VPPError
from contivpp.events.bus import EventBus
from contivpp.events.log import EventRecorder, Header
from contivpp.events.state import LocalPod, initial_state
from contivpp.events.types import (
    Event,
    K8sDeleted,
    NodeIDAllocated,
    ResyncRequested,
    VPPRestarted,
)
from contivpp.linux.descriptors import LinuxNeighborDescriptor, LinuxRouteDescriptor
from contivpp.reconcile import Scheduler, TxnRecord
from contivpp.renderers.parts import pod_owner
from contivpp.renderers.services import Backend
from contivpp.stn.client import StolenInterface, keep_alive, steal_interface
from contivpp.vpp.client import VPPClient
from contivpp.vpp.descriptors import vpp_descriptors
from contivpp.vpp.nat_sessions import delete_sessions_towards
from contivpp.webapi import Unavailable

log = structlog.get_logger("contivpp.agent")


def _exists(path: str) -> bool:
    return os.path.exists(path)  # one stat per restored pod, at start-up only


def _never() -> bool:
    return False


@attrs.define
class AgentStatus:
    #: Asked at every probe: the VPP connection comes and goes, a flag set once would lie.
    vpp_connected: Callable[[], bool] = _never
    node_id: int | None = None
    kube_synced: bool = False
    startup_resync_done: bool = False

    def not_ready(self) -> list[str]:
        reasons = []
        if not self.vpp_connected():
            reasons.append("VPP not connected")
        if self.node_id is None:
            reasons.append("no node ID")
        if not self.kube_synced:
            reasons.append("Kubernetes state not read from etcd yet")
        if not self.startup_resync_done:
            reasons.append("startup resync not done")
        return reasons


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.metrics = AgentMetrics()
        self.status = AgentStatus()
        self.client: VPPClient = MeasuredVPPClient(
            str(settings.vpp_socket),
            connect_timeout=settings.vpp_connect_timeout,
            histogram=self.metrics.vpp_calls,
        )
        self.scheduler = Scheduler(
            [*vpp_descriptors(self.client), LinuxRouteDescriptor(), LinuxNeighborDescriptor()],
            on_record=self._observe_transaction,
        )
        self.sink = ReconcilerSink(self.scheduler, sessions=self._drop_sessions)
        # With STN the config is complete only once the NIC is stolen (the uplink's address
        # and gateway are what the host had): the event log is opened then, its header
        # carrying the uplink, and the controller built again from that config.
        self._build(settings.agent, record=settings.stn is None)
        self.metrics.registry.register(AgentCollector(lambda: self.controller, self.scheduler))
        self.pods_file = settings.state_dir / "pods.json"
        self.pod_saver = PodSaver(self.pods_file)
        # The sink is attached when *this* event is handled (identity, not a reason string:
        # a replayed or hand-made ResyncRequested("startup") must not attach anything).
        self._startup_resync = ResyncRequested("startup")
        self.started = asyncio.Event()
        self._apply_errors_seen = 0
        self._store: EtcdStore | None = None
        self._tasks: asyncio.TaskGroup | None = None
        #: The port the HTTP API listens on, once it does (``httpAddress`` port 0: any).
        self.http_port: int | None = None
        #: What the STN daemon took from the host for VPP (None without STN).
        self.stolen: StolenInterface | None = None
        #: Events somebody waits for (``POST /scheduler/resync``), by identity -> their seq.
        self._waiters: dict[int, tuple[Event, asyncio.Future[int]]] = {}
        #: kube-proxy's service health checks; None when no address is configured for them.
        self.health_checks: HealthCheckServers | None = None
        if settings.service_health_check_host is not None:
            self.health_checks = HealthCheckServers(
                settings.service_health_check_host,
                lambda ns, name: health_checks.local_endpoints(self.controller.state, ns, name),
                lambda: not self.status.not_ready(),
            )
        self._checked_services: object = None
        self._unserved_checks: set[HealthCheck] = set()

    def _build(self, config: AgentConfig, *, record: bool) -> None:
        """The event log, the bus and the controller for ``config`` (nothing published yet)."""
        recorder = None
        if record and config.event_log.directory is not None:
            recorder = EventRecorder(
                config.event_log.directory,
                Header(config.node_name, config),
                max_bytes=config.event_log.max_bytes,
                backups=config.event_log.backups,
            )
        self.recorder = recorder
        # Continue the kept log's numbering, so log seqs and logged event_seq stay equal.
        first_seq = recorder.next_seq if recorder is not None else 1
        self.bus = EventBus(first_seq=first_seq, observe_lag=self.metrics.event_lag.observe)
        # No sink until the startup resync: before it, events only build state.
        self.controller = Controller(initial_state(config), recorder=recorder)
        # What the pod saver last saw: a new controller's (empty) pods are not a change.
        self._saved_pods = self.controller.state.local_pods

    async def _handle(self, seq: int, event: Event) -> None:
        if event is self._startup_resync:
            self.controller.sink = self.sink
        started = time.perf_counter()
        try:
            await self.controller.handle(seq, event)
        finally:
            waiter = self._waiters.pop(id(event), None)
            if waiter is not None and not waiter[1].done():
                waiter[1].set_result(seq)
        log.info(
            "event_processed",
            event_seq=seq,
            event_type=type(event).__name__,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        if (
            isinstance(event, K8sDeleted)
            and event.ref.kind == "Node"
            and event.ref.name != self.settings.agent.node_name
            and self._store is not None
            and self._tasks is not None
        ):
            # The node left the cluster: free its ID (its allocatedIDs/ record going away
            # is what removes it from every node's VXLAN mesh).
            self._tasks.create_task(self._release(event.ref.name), name="release-node-id")
        self.metrics.events.labels(type(event).__name__).inc()
        self.metrics.queue_depth.set(self.bus.pending)
        self.metrics.apply_errors.inc(self.controller.apply_errors - self._apply_errors_seen)
        self._apply_errors_seen = self.controller.apply_errors
        pods = self.controller.state.local_pods
        if pods is not self._saved_pods:
            self.pod_saver.submit(pods, self.controller.state.allocator)
            self._saved_pods = pods
        if event is self._startup_resync:
            self.status.startup_resync_done = True
        await self._sync_health_checks()

    async def _sync_health_checks(self) -> None:
        """Listeners follow the Services (only a change of the Service set can change them:
        the counts behind the answers are read from the state at each probe)."""
        state = self.controller.state
        services = state.of_kind("Service")
        if services is self._checked_services:
            return
        self._checked_services = services
        checks = health_checks.wanted(state)
        if self.health_checks is None:
            unserved, reason = set(checks.values()), "serviceHealthCheckAddress is not set"
        else:
            await self.health_checks.sync(checks)
            unserved = set(health_checks.clashing(state, checks))
            reason = "another service's health check has its port"
        for check in sorted(unserved - self._unserved_checks, key=attrs.astuple):
            log.warning(
                "health_check_not_served",
                service=f"{check.namespace}/{check.name}",
                port=check.port,
                reason=reason,
            )
        self._unserved_checks = unserved

    async def request_resync(self, timeout: float) -> int:  # noqa: ASYNC109
        """Queue a full resync (an operator's request) and wait until it was handled; its seq.

        Through the bus like every input, so it is ordered with the other events and recorded
        in the event log (a replay resyncs at the same point).
        """
        event = ResyncRequested("operator")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[id(event)] = (event, done)
        try:
            async with asyncio.timeout(timeout):
                await self.bus.publish(event)
                return await done
        except TimeoutError:
            raise Unavailable(f"the resync was not handled within {timeout:g}s") from None
        finally:
            self._waiters.pop(id(event), None)

    async def _steal_nic(self, stn: STNSettings) -> None:
        """Have the STN daemon take the NIC from the host before VPP is configured; the
        addresses and routes it reports are what the host had on it, and become VPP's
        uplink (the config, and so the event log's header, carry them)."""
        self.stolen = await steal_interface(stn.socket, stn.interface)
        uplink = self.stolen.main_interface()
        config = attrs.evolve(self.settings.agent, main_interface=uplink)
        self.settings = attrs.evolve(self.settings, agent=config)
        self._build(config, record=True)
        log.info(
            "stn_interface_stolen",
            interface=stn.interface,
            pci_address=self.stolen.pci_address,
            addresses=[str(a) for a in self.stolen.addresses],
            routes=[f"{r.destination} via {r.next_hop or 'link'}" for r in self.stolen.routes],
            uplink=uplink.to_json(),
        )

    async def _release(self, name: str) -> None:
        assert self._store is not None
        try:
            await release_node_ids(self._store, name)
        except Exception as exc:  # a task of the top TaskGroup: must never end it
            # Any error here (not only etcd's) would cancel the whole agent; another agent
            # (or the next Node deletion) releases the ID instead. Cancellation passes.
            log.error("node_id_release_failed", node=name, error=f"{type(exc).__name__}: {exc}")

    async def _verify_pod(self, pod: LocalPod) -> Sequence[str]:
        """For CNI CHECK: what the pod's own desired values lack, on VPP and in its netns."""
        if self.controller.state.node_id is None:
            return ["this node has no ID"]
        own = self.controller.parts.part(pod_owner(pod.namespace, pod.name))
        return await verify_pod(dict(own), self.scheduler.status)

    async def _drop_sessions(self, backend: Backend) -> int:
        """NAT sessions towards a backend no mapping uses any more (issue 10, stale sessions)."""
        return await delete_sessions_towards(
            self.client, backend.ip, backend.port, backend.protocol, vrf=backend.vrf
        )

    def _observe_transaction(self, record: TxnRecord) -> None:
        """Every reconciler transaction (event-driven or retry) feeds the metrics."""
        self.metrics.txn_duration.labels(record.kind.value).observe(record.duration)
        for error in record.errors.values():
            if isinstance(error, VPPError):
                self.metrics.vpp_errors.labels(type(error).__name__).inc()

    async def _watch_vpp_restarts(self) -> None:
        while True:
            restart = await self.client.restarts.get()
            log.warning("vpp_restarted", reason=restart.reason, generation=restart.generation)
            await self.bus.publish(VPPRestarted())

    async def _restore_pods(self) -> None:
        for event in load_pods(self.pods_file):
            if _exists(event.netns):
                await self.bus.publish(event)
            else:
                log.info(
                    "pod_not_restored",
                    pod=f"{event.pod_namespace}/{event.pod_name}",
                    reason="netns gone",
                )
        position = load_position(self.pods_file)
        if position is not None:  # after the claims: the saved position wins over theirs
            await self.bus.publish(position)

    async def run(self) -> None:
        settings, config = self.settings, self.settings.agent
        stn = settings.stn
        if stn is not None:
            await self._steal_nic(stn)
        # One TaskGroup from the steal on: the keep-alives start with it, not after VPP and
        # etcd answered (a slow start would outlast the daemon's timeout and the NIC would be
        # given back under a starting agent). The exit stack around it closes the etcd store
        # only after every task of the group has ended.
        async with contextlib.AsyncExitStack() as resources, asyncio.TaskGroup() as tg:
            self._tasks = tg
            if stn is not None:
                # STNError out of keep_alive ends the TaskGroup and so the agent: the
                # daemon gave the NIC back, our picture of the node is wrong; restart.
                tg.create_task(
                    keep_alive(stn.socket, stn.interface, stn.keepalive), name="stn-keepalive"
                )
            await self.client.connect()
            resources.push_async_callback(self.client.close)
            self.status.vpp_connected = lambda: self.client.connected
            store = await resources.enter_async_context(
                EtcdStore(parse_endpoints(list(settings.etcd_endpoints)))
            )

            def ips_for(node_id: int) -> tuple[str, ...]:
                node_ip = ipam.node_interconnect_ip(config.ipam, node_id)
                return (f"{node_ip}/{config.ipam.node_interconnect_cidr.prefixlen}",)

            node_id = await allocate_node_id(
                store, config.node_name, ips_for, local_file=settings.state_dir / "node-id"
            )
            ips = ips_for(node_id)
            self.status.node_id = node_id
            handler = PodCNIHandler(
                self.bus.publish,
                lambda: self.controller.state.local_pods,
                timeout=settings.cni_timeout,
                not_ready=self.status.not_ready,
                verify=self._verify_pod,
            )
            self._store = store
            tg.create_task(self.bus.run(self._handle), name="event-loop")
            tg.create_task(self.scheduler.run(), name="reconciler-retries")
            tg.create_task(serve_http(self, settings.http_host, settings.http_port), name="http")
            if self.health_checks is not None:
                tg.create_task(self.health_checks.retry_failed(), name="health-checks")
            await self.bus.publish(NodeIDAllocated(config.node_name, node_id, ips))
            await self._restore_pods()
            # One watch on the KSR prefix: Kubernetes objects and the other nodes' IDs.
            watcher = DatastoreWatcher(
                store, self.bus.publish, translator=AgentTranslator(config.node_name)
            )
            tg.create_task(watcher.run(), name="datastore-watch")
            await watcher.synced.wait()
            self.status.kube_synced = True
            await self.bus.publish(self._startup_resync)
            await self.bus.join()
            tg.create_task(self._watch_vpp_restarts(), name="vpp-restarts")
            tg.create_task(serve_relay(settings.cni_socket, handler), name="cni")
            grpc_server = None
            if settings.cni_grpc_socket is not None:
                grpc_server = await start_grpc(settings.cni_grpc_socket, handler)
            log.info("agent_ready", node=config.node_name, node_id=node_id)
            self.started.set()
            try:
                await asyncio.Event().wait()
            finally:
                if grpc_server is not None:
                    await grpc_server.stop(1)
                if self.health_checks is not None:
                    await self.health_checks.close()
                self.pod_saver.close()
                if self.recorder is not None:
                    self.recorder.close()
