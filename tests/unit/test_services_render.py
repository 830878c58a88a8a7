"""Services rendered as NAT44-ED values: one table test per kube-proxy behaviour.

Expected values are written out (addresses, keys, flags) from the spec of each behaviour, not
computed with the renderer's helpers. Node 1 of the default address plan: pod subnet
10.1.1.0/24 (NAT loopback 10.1.1.254), VPP end of the host link 172.30.1.1, VXLAN source
192.168.16.1; main VRF 0, pod VRF 1.
"""

from __future__ import annotations

import attrs
import pytest

from contivpp.config import AgentConfig
from contivpp.events import k8s
from contivpp.model.acl import Acl, AclInterface, AclRule, PortRange
from contivpp.model.nat import (
    Nat44AddressPool,
    Nat44Global,
    Nat44IdentityMapping,
    Nat44Interface,
    Nat44LbLocal,
    Nat44LbStaticMapping,
    Nat44StaticMapping,
)
from contivpp.model.vpp import Route
from contivpp.renderers.services import (
    ServiceContext,
    nat_pod_values,
    render_nat_node,
    render_service,
    service_context,
    skip_reason,
    source_ranges_binding,
)

CTX = ServiceContext(
    config=AgentConfig("node-1"),
    node_name="node-1",
    node_id=1,
    node_ips=("10.0.0.1", "10.0.0.2"),
    vpp_ips=("192.168.16.1", "172.30.1.1"),
    nat_loopback="10.1.1.254",
    host_ips=("10.0.0.1",),
)
HTTP = k8s.ServicePort("http", "TCP", 80, "web")


def svc(**fields: object) -> k8s.Service:
    base: dict[str, object] = {
        "namespace": "prod",
        "name": "web",
        "cluster_ip": "10.96.0.10",
        "ports": (HTTP,),
    }
    base.update(fields)
    return k8s.Service(**base)  # type: ignore[arg-type]


def ep(ip: str, node: str = "node-1", **conditions: bool) -> k8s.Endpoint:
    return k8s.Endpoint((ip,), node_name=node, **conditions)


def eps(
    *endpoints: k8s.Endpoint,
    name: str = "web-a",
    ports: tuple[k8s.EndpointPort, ...] = (k8s.EndpointPort("http", 8080, "TCP"),),
    service: str = "web",
    address_type: str = "IPv4",
) -> k8s.EndpointSlice:
    return k8s.EndpointSlice("prod", name, service, address_type, tuple(endpoints), ports)


def lb(ip: str, port: int, *backends: tuple[str, int], twice: str = "self", affinity: int = 0):  # type: ignore[no-untyped-def]
    return Nat44LbStaticMapping(
        external_ip=ip,
        external_port=port,
        protocol="tcp",
        locals=tuple(Nat44LbLocal(b_ip, b_port, 1, 1) for b_ip, b_port in backends),
        twice_nat=twice,  # type: ignore[arg-type]
        affinity=affinity,
        label="prod/web",
    )


def static(ip: str, port: int, backend: str, backend_port: int, twice: str = "self"):  # type: ignore[no-untyped-def]
    return Nat44StaticMapping(
        local_ip=backend,
        external_ip=ip,
        protocol="tcp",
        local_port=backend_port,
        external_port=port,
        vrf=1,
        twice_nat=twice,  # type: ignore[arg-type]
        label="prod/web",
    )


DROP_CLUSTER_IP = {
    "vpp/route/vrf/0/dst/10.96.0.10/32/via/-/dev/-": Route(vrf=0, dst="10.96.0.10/32", drop=True)
}
#: No usable endpoint anywhere: kube-proxy REJECTs, VPP answers ICMP unreachable at once.
REJECT_CLUSTER_IP = {
    "vpp/route/vrf/0/dst/10.96.0.10/32/via/-/dev/-": Route(
        vrf=0, dst="10.96.0.10/32", unreachable=True
    )
}


def test_cluster_ip_balances_over_every_ready_endpoint_keeping_the_client_source() -> None:
    out = render_service(CTX, svc(), [eps(ep("10.1.2.2", "node-2"), ep("10.1.1.2"))])
    # Pod -> ClusterIP keeps the client's address; only hairpin is rewritten (self-twice-NAT).
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/lb-mapping/10.96.0.10/tcp/80": lb(
            "10.96.0.10", 80, ("10.1.1.2", 8080), ("10.1.2.2", 8080)
        ),
    }


def test_one_endpoint_is_a_plain_static_mapping() -> None:
    out = render_service(CTX, svc(), [eps(ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
    }


def test_every_service_port_and_udp() -> None:
    dns = k8s.ServicePort("dns", "UDP", 53, 5353)
    slice_ = eps(
        ep("10.1.1.2"),
        ports=(k8s.EndpointPort("http", 8080, "TCP"), k8s.EndpointPort("dns", 5353, "UDP")),
    )
    out = render_service(CTX, svc(ports=(HTTP, dns)), [slice_])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.1.2", 8080),
        "vpp/nat44/static-mapping/10.96.0.10/udp/53": Nat44StaticMapping(
            local_ip="10.1.1.2",
            external_ip="10.96.0.10",
            protocol="udp",
            local_port=5353,
            external_port=53,
            vrf=1,
            twice_nat="self",
            label="prod/web",
        ),
    }


def test_slices_are_merged_and_an_address_in_two_slices_counts_once() -> None:
    slices = [
        eps(ep("10.1.1.2"), ep("10.1.2.2", "node-2"), name="web-a"),
        eps(ep("10.1.2.2", "node-2"), ep("10.1.3.2", "node-3"), name="web-b"),
    ]
    out = render_service(CTX, svc(), slices)
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/lb-mapping/10.96.0.10/tcp/80": lb(
            "10.96.0.10", 80, ("10.1.1.2", 8080), ("10.1.2.2", 8080), ("10.1.3.2", 8080)
        ),
    }
    assert render_service(CTX, svc(), slices[::-1]) == out  # slice order does not matter


def test_named_target_port_resolves_per_endpoint_through_the_slice_port() -> None:
    # Pods of one service call their "http" container port 8080 or 9090: one slice each.
    slices = [
        eps(ep("10.1.1.2"), name="web-a"),
        eps(ep("10.1.2.2", "node-2"), name="web-b", ports=(k8s.EndpointPort("http", 9090, "TCP"),)),
        # A slice port with the right name but another protocol is not this service port's.
        eps(ep("10.1.3.2"), name="web-c", ports=(k8s.EndpointPort("http", 7070, "UDP"),)),
    ]
    out = render_service(CTX, svc(), slices)
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/lb-mapping/10.96.0.10/tcp/80": lb(
            "10.96.0.10", 80, ("10.1.1.2", 8080), ("10.1.2.2", 9090)
        ),
    }


def test_node_port_on_every_node_address_and_this_nodes_vpp_addresses() -> None:
    service = svc(type="NodePort", ports=(attrs.evolve(HTTP, node_port=30080),))
    out = render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))])
    # External traffic with policy Cluster is masqueraded: twice-NAT to the NAT loopback.
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
        "vpp/nat44/static-mapping/10.0.0.1/tcp/30080": static(
            "10.0.0.1", 30080, "10.1.2.2", 8080, twice="enabled"
        ),
        "vpp/nat44/static-mapping/10.0.0.2/tcp/30080": static(
            "10.0.0.2", 30080, "10.1.2.2", 8080, twice="enabled"
        ),
        "vpp/nat44/static-mapping/172.30.1.1/tcp/30080": static(
            "172.30.1.1", 30080, "10.1.2.2", 8080, twice="enabled"
        ),
        "vpp/nat44/static-mapping/192.168.16.1/tcp/30080": static(
            "192.168.16.1", 30080, "10.1.2.2", 8080, twice="enabled"
        ),
    }


def test_cluster_ip_type_ignores_an_allocated_node_port() -> None:
    service = svc(ports=(attrs.evolve(HTTP, node_port=30080),))
    assert set(render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))])) == {
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80",
        *REJECT_CLUSTER_IP,
    }


def test_external_ips_and_load_balancer_ingress_ips_on_the_service_port() -> None:
    service = svc(
        type="LoadBalancer",
        external_ips=("198.51.100.1", "fd00::1"),
        lb_ingress_ips=("203.0.113.7",),
    )
    out = render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
        "vpp/nat44/static-mapping/198.51.100.1/tcp/80": static(
            "198.51.100.1", 80, "10.1.2.2", 8080, twice="enabled"
        ),
        "vpp/nat44/static-mapping/203.0.113.7/tcp/80": static(
            "203.0.113.7", 80, "10.1.2.2", 8080, twice="enabled"
        ),
    }
    # Ingress IPs in the status of a service that is no longer a LoadBalancer are not used.
    assert "vpp/nat44/static-mapping/203.0.113.7/tcp/80" not in render_service(
        CTX, attrs.evolve(service, type="ClusterIP"), [eps(ep("10.1.2.2", "node-2"))]
    )


def test_load_balancer_source_ranges_become_an_acl_on_the_lb_ips() -> None:
    service = svc(
        type="LoadBalancer",
        lb_ingress_ips=("203.0.113.7",),
        lb_source_ranges=("192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32"),
    )
    out = render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))])
    web = PortRange(80, 80)
    assert out["vpp/acl/svc-src/prod/web"] == Acl(
        "svc-src/prod/web",
        (
            AclRule("permit", "192.0.2.0/24", "203.0.113.7/32", "tcp", dst_ports=web),
            AclRule("permit", "198.51.100.7/32", "203.0.113.7/32", "tcp", dst_ports=web),
            AclRule("deny", "", "203.0.113.7/32", "tcp", dst_ports=web),
        ),
    )
    assert "vpp/nat44/static-mapping/203.0.113.7/tcp/80" in out
    # ... bound on the host link's ingress, before a final permit-the-rest ACL.
    assert source_ranges_binding(["svc-src/prod/web", "svc-src/a/b"]) == {
        "vpp/acl/svc-permit-rest": Acl("svc-permit-rest", (AclRule("permit"),)),
        "vpp/acl-interface/tap-vpp2": AclInterface(
            "tap-vpp2", ingress=("svc-src/a/b", "svc-src/prod/web", "svc-permit-rest")
        ),
    }
    assert source_ranges_binding([]) == {}


def test_sctp_is_address_only_on_the_service_addresses_and_never_on_node_addresses() -> None:
    sctp = k8s.ServicePort("sig", "SCTP", 9000, 9000, node_port=30900)
    slice_ = eps(ep("10.1.2.2", "node-2"), ports=(k8s.EndpointPort("sig", 9000, "SCTP"),))
    out = render_service(CTX, svc(type="NodePort", ports=(sctp,)), [slice_])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/all": Nat44StaticMapping(
            local_ip="10.1.2.2", external_ip="10.96.0.10", vrf=1, label="prod/web"
        ),
    }
    # A backend port other than the service port cannot be expressed: nothing is mapped.
    moved = eps(ep("10.1.2.2", "node-2"), ports=(k8s.EndpointPort("sig", 9001, "SCTP"),))
    assert render_service(CTX, svc(ports=(sctp,)), [moved]) == DROP_CLUSTER_IP


def test_terminating_endpoints_serve_only_when_none_is_ready() -> None:
    terminating = ep("10.1.2.2", "node-2", ready=False, serving=True, terminating=True)
    gone = ep("10.1.3.2", "node-3", ready=False, serving=False, terminating=True)
    not_ready = ep("10.1.4.2", "node-4", ready=False)
    out = render_service(CTX, svc(), [eps(terminating, gone, not_ready)])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
    }
    out = render_service(CTX, svc(), [eps(terminating, ep("10.1.5.2", "node-5"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.5.2", 8080),
    }


def test_no_usable_endpoint_closes_every_service_address_and_maps_nothing() -> None:
    service = svc(
        type="LoadBalancer",
        external_ips=("198.51.100.1",),
        lb_ingress_ips=("203.0.113.7",),
        ports=(attrs.evolve(HTTP, node_port=30080),),
    )
    out = render_service(CTX, service, [eps(ep("10.1.2.2", "node-2", ready=False))])
    # kube-proxy REJECTs: an ICMP-unreachable path; node addresses are never closed (they
    # serve the node itself).
    assert out == {
        "vpp/route/vrf/0/dst/10.96.0.10/32/via/-/dev/-": Route(
            0, "10.96.0.10/32", unreachable=True
        ),
        "vpp/route/vrf/0/dst/198.51.100.1/32/via/-/dev/-": Route(
            0, "198.51.100.1/32", unreachable=True
        ),
        "vpp/route/vrf/0/dst/203.0.113.7/32/via/-/dev/-": Route(
            0, "203.0.113.7/32", unreachable=True
        ),
    }
    assert render_service(CTX, svc(), []) == REJECT_CLUSTER_IP


def test_a_served_cluster_ip_rejects_the_ports_it_does_not_serve() -> None:
    # NAT translates port 80 before the FIB lookup; what reaches the /32 route is port 81
    # (no endpoint has it) or a port the service does not have: kube-proxy rejects those.
    other = k8s.ServicePort("admin", "TCP", 81, 9999)
    out = render_service(CTX, svc(ports=(HTTP, other)), [eps(ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
    }


def test_a_served_cluster_ip_drops_a_port_its_traffic_policy_leaves_without_endpoint() -> None:
    # kube-proxy drops traffic to a port whose policy Local leaves no endpoint here; one
    # route per address cannot tell it from an unknown port, which is then dropped too.
    admin = k8s.ServicePort("admin", "TCP", 81, "admin")
    slices = [
        eps(ep("10.1.1.2"), name="web-a"),
        eps(
            ep("10.1.2.2", "node-2"), name="web-b", ports=(k8s.EndpointPort("admin", 9090, "TCP"),)
        ),
    ]
    out = render_service(CTX, svc(ports=(HTTP, admin), internal_traffic_policy="Local"), slices)
    assert out == {
        **DROP_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.1.2", 8080),
    }


def test_external_policy_local_uses_local_endpoints_and_keeps_the_client_source() -> None:
    service = svc(
        type="NodePort",
        external_traffic_policy="Local",
        external_ips=("198.51.100.1",),
        ports=(attrs.evolve(HTTP, node_port=30080),),
    )
    slices = [eps(ep("10.1.1.2"), ep("10.1.2.2", "node-2"))]
    out = render_service(CTX, service, slices)
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/lb-mapping/10.96.0.10/tcp/80": lb(
            "10.96.0.10", 80, ("10.1.1.2", 8080), ("10.1.2.2", 8080)
        ),
        **{
            f"vpp/nat44/static-mapping/{ip}/tcp/{port}": static(ip, port, "10.1.1.2", 8080)
            for ip, port in [
                ("198.51.100.1", 80),
                ("10.0.0.1", 30080),
                ("10.0.0.2", 30080),
                ("172.30.1.1", 30080),
                ("192.168.16.1", 30080),
            ]
        },
    }


def test_external_policy_local_without_local_endpoint_drops_external_traffic() -> None:
    service = svc(
        type="NodePort",
        external_traffic_policy="Local",
        external_ips=("198.51.100.1",),
        ports=(attrs.evolve(HTTP, node_port=30080),),
    )
    out = render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
        "vpp/route/vrf/0/dst/198.51.100.1/32/via/-/dev/-": Route(0, "198.51.100.1/32", drop=True),
    }


def test_a_local_copy_of_a_duplicated_endpoint_counts_as_local() -> None:
    service = svc(type="NodePort", external_traffic_policy="Local")
    service = attrs.evolve(service, external_ips=("198.51.100.1",))
    slices = [eps(ep("10.1.1.2", "node-2"), name="web-a"), eps(ep("10.1.1.2"), name="web-b")]
    out = render_service(CTX, service, slices)
    assert out["vpp/nat44/static-mapping/198.51.100.1/tcp/80"] == static(
        "198.51.100.1", 80, "10.1.1.2", 8080
    )


def test_internal_policy_local_sends_pods_only_to_local_endpoints() -> None:
    service = svc(internal_traffic_policy="Local")
    out = render_service(CTX, service, [eps(ep("10.1.1.2"), ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.1.2", 8080),
    }
    # Endpoints elsewhere but none here: dropped (kube-proxy DROP), not rejected.
    assert render_service(CTX, service, [eps(ep("10.1.2.2", "node-2"))]) == DROP_CLUSTER_IP


def test_session_affinity_client_ip_with_its_timeout() -> None:
    service = svc(session_affinity="ClientIP", session_affinity_timeout=600)
    out = render_service(CTX, service, [eps(ep("10.1.1.2"), ep("10.1.2.2", "node-2"))])
    assert out == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/lb-mapping/10.96.0.10/tcp/80": lb(
            "10.96.0.10", 80, ("10.1.1.2", 8080), ("10.1.2.2", 8080), affinity=600
        ),
    }


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"cluster_ip": "None"}, "headless service: DNS only"),
        ({"type": "ExternalName", "cluster_ip": ""}, "ExternalName service: DNS only"),
        ({"cluster_ip": ""}, "no cluster IP allocated yet"),
        (
            {"cluster_ip": "fd00::10", "cluster_ips": ("fd00::10",), "ip_families": ("IPv6",)},
            "IPv6 only: NAT44 translates IPv4",
        ),
    ],
)
def test_services_that_get_nothing(fields: dict[str, object], reason: str) -> None:
    service = svc(**fields)
    assert skip_reason(service) == reason
    assert render_service(CTX, service, [eps(ep("10.1.1.2"))]) == {}


def test_dual_stack_maps_only_the_ipv4_cluster_ip_and_ipv4_endpoints() -> None:
    service = svc(
        cluster_ip="fd00::10",
        cluster_ips=("fd00::10", "10.96.0.10"),
        ip_families=("IPv6", "IPv4"),
    )
    slices = [
        eps(k8s.Endpoint(("fd00:1::2",)), name="web-6", address_type="IPv6"),
        eps(ep("10.1.2.2", "node-2")),
    ]
    assert skip_reason(service) is None
    assert render_service(CTX, service, slices) == {
        **REJECT_CLUSTER_IP,
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80": static("10.96.0.10", 80, "10.1.2.2", 8080),
    }


def test_slices_of_another_service_are_ignored() -> None:
    out = render_service(CTX, svc(), [eps(ep("10.1.2.2", "node-2"), service="other")])
    assert out == REJECT_CLUSTER_IP


def test_long_names_are_cut_to_the_vpp_tag_size_and_stay_distinct() -> None:
    a = render_service(CTX, svc(name="x" * 70), [eps(ep("10.1.1.2"), service="x" * 70)])
    b = render_service(CTX, svc(name="x" * 71), [eps(ep("10.1.1.2"), service="x" * 71)])
    (va,), (vb,) = ([v for v in m.values() if not isinstance(v, Route)] for m in (a, b))
    assert isinstance(va, Nat44StaticMapping) and isinstance(vb, Nat44StaticMapping)
    assert len(va.label) == 63 and len(vb.label) == 63 and va.label != vb.label
    assert va.label.startswith("prod/xxxx")


def test_the_node_nat_set_up() -> None:
    assert render_nat_node(CTX) == {
        "vpp/nat44/global": Nat44Global(forwarding=True),
        # Never an output-feature interface (it would source-NAT translated connections
        # again, nat44_ed_not_translate_output_feature) and no SNAT pool: no uplink NIC.
        "vpp/nat44/interface/tap-vpp2": Nat44Interface("tap-vpp2", inside=True, outside=True),
        "vpp/nat44/interface/vxlanBVI": Nat44Interface("vxlanBVI", inside=True, outside=True),
        "vpp/nat44/address-pool/twice-nat/10.1.1.254-10.1.1.254": Nat44AddressPool(
            "10.1.1.254", twice_nat=True
        ),
        "vpp/nat44/identity-mapping/vrf/0/192.168.16.1/all": Nat44IdentityMapping(
            ip="192.168.16.1"
        ),
        "vpp/nat44/identity-mapping/vrf/0/172.30.1.1/all": Nat44IdentityMapping(ip="172.30.1.1"),
        "vpp/nat44/identity-mapping/vrf/0/192.168.16.1/udp/4789": Nat44IdentityMapping(
            ip="192.168.16.1", protocol="udp", port=4789
        ),
        "vpp/route/vrf/0/dst/10.96.0.0/12/via/-/dev/-": Route(0, "10.96.0.0/12", drop=True),
    }


def test_nat_external_traffic_has_nothing_to_source_nat_on_without_an_uplink() -> None:
    ctx = attrs.evolve(CTX, config=AgentConfig("node-1", nat_external_traffic=False))
    assert render_nat_node(ctx) == render_nat_node(CTX)


def test_a_host_network_endpoint_of_this_node_is_mapped_in_the_main_vrf() -> None:
    # Its answers come in through the host link (main VRF); a pod, or a host-network
    # endpoint of another node (reached over VXLAN), answers in the pod VRF.
    service = svc()
    out = render_service(
        CTX, service, [eps(ep("10.0.0.1"), ep("10.0.0.2", "node-2"), ep("10.1.1.2"))]
    )
    lb = out["vpp/nat44/lb-mapping/10.96.0.10/tcp/80"]
    assert isinstance(lb, Nat44LbStaticMapping)
    assert [(x.ip, x.vrf) for x in lb.locals] == [
        ("10.0.0.1", 0),
        ("10.0.0.2", 1),
        ("10.1.1.2", 1),
    ]
    single = render_service(CTX, service, [eps(ep("10.0.0.1"))])[
        "vpp/nat44/static-mapping/10.96.0.10/tcp/80"
    ]
    assert isinstance(single, Nat44StaticMapping) and single.vrf == 0


def test_a_pod_tap_is_inside_and_outside() -> None:
    assert nat_pod_values("tap-abc") == {
        "vpp/nat44/interface/tap-abc": Nat44Interface("tap-abc", inside=True, outside=True)
    }


def test_service_context_from_the_nodes() -> None:
    nodes = [
        k8s.Node(
            "node-2",
            (
                k8s.NodeAddress("InternalIP", "10.0.0.2"),
                k8s.NodeAddress("Hostname", "node-2"),
                k8s.NodeAddress("InternalIP", "fd00::2"),
            ),
        ),
        k8s.Node(
            "node-1",
            (
                k8s.NodeAddress("InternalIP", "10.0.0.1"),
                k8s.NodeAddress("ExternalIP", "198.51.100.11"),
            ),
        ),
    ]
    assert service_context(AgentConfig("node-1"), 1, nodes) == ServiceContext(
        config=AgentConfig("node-1"),
        node_name="node-1",
        node_id=1,
        node_ips=("10.0.0.1", "10.0.0.2", "198.51.100.11"),
        vpp_ips=("192.168.16.1", "172.30.1.1"),
        nat_loopback="10.1.1.254",
        host_ips=("10.0.0.1", "198.51.100.11"),
    )


def test_an_external_ip_that_is_a_node_address_is_never_closed() -> None:
    # The host route to a node address must not get a drop path beside it.
    service = svc(external_ips=("10.0.0.2", "198.51.100.1"))
    assert render_service(CTX, service, []) == {
        **REJECT_CLUSTER_IP,
        "vpp/route/vrf/0/dst/198.51.100.1/32/via/-/dev/-": Route(
            0, "198.51.100.1/32", unreachable=True
        ),
    }
