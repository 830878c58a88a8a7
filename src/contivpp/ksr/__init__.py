"""KSR, the Kubernetes State Reflector: mirrors the Kubernetes API into etcd for the agents.

Agents never talk to the Kubernetes API; one elected KSR replica lists and watches
Namespaces, Pods, Services, EndpointSlices, NetworkPolicies and Nodes and keeps etcd's
``/vnf-agent/contiv-ksr/k8s/`` equal to them (see ``docs/ksr.md``). ``run_ksr(KSRConfig(...))``
is the whole public API; the modules are its activities: ``kubeapi`` (the API boundary),
``reflector`` (list + watch per kind), ``mirror`` (the single etcd writer), ``election``
(leadership on an etcd lease) and ``service`` (the assembly).
"""

from contivpp.ksr.config import KSRConfig
from contivpp.ksr.service import KSR, run_ksr

__all__ = ["KSR", "KSRConfig", "run_ksr"]
