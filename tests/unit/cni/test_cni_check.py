"""CHECK's VPP side: the pod's keys as the reconciler reports them, and the handler's answer."""

from __future__ import annotations

import json
from collections.abc import Sequence

from contivpp.cni import relay, spec
from contivpp.cni.check import not_configured
from contivpp.cni.server import PodCNIHandler, answer
from contivpp.cni.spec import CNIRequest
from contivpp.errors import VPPApiError
from contivpp.events.state import LocalPod
from contivpp.reconcile.api import Key
from contivpp.reconcile.status import ValueState, ValueStatus

PART = {Key("vpp/interface/tap-c1"): object(), Key("vpp/route/vrf/1/10.1.1.2/32"): object()}


def test_every_key_not_configured_is_named_with_its_state_and_error() -> None:
    states = {
        "vpp/interface/tap-c1": ValueStatus(Key("vpp/interface/tap-c1"), ValueState.CONFIGURED),
        "vpp/route/vrf/1/10.1.1.2/32": ValueStatus(
            Key("vpp/route/vrf/1/10.1.1.2/32"),
            ValueState.RETRYING,
            error=VPPApiError("ip_route_add_del", -7, "no such table"),
        ),
    }
    assert not_configured(PART, lambda key: states[key]) == [
        "vpp/route/vrf/1/10.1.1.2/32 is retrying: ip_route_add_del: retval -7 (no such table)"
    ]
    assert not_configured(PART, lambda key: ValueStatus(key)) == [
        "vpp/interface/tap-c1 is nonexistent",
        "vpp/route/vrf/1/10.1.1.2/32 is nonexistent",
    ]


async def test_check_fails_with_what_verify_reports() -> None:
    pod = LocalPod("default", "web", "c1", "/proc/self/ns/net", "eth0", "10.1.1.2")
    seen: list[LocalPod] = []

    async def verify(p: LocalPod) -> Sequence[str]:
        seen.append(p)
        return ["vpp/interface/tap-c1 is failed", "route 0.0.0.0/0 via 10.1.1.1 dev eth0"]

    handler = PodCNIHandler(_never_called, lambda: {("default", "web"): pod}, verify=verify)
    env = {"CNI_COMMAND": "CHECK", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/self/ns/net",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/x",
           "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"}  # fmt: skip
    prev = b'{"cniVersion": "1.0.0", "prevResult": {"ips": [{"address": "10.1.1.2/32"}]}}'
    code, out = await spec.execute(env, prev, handler)
    assert code == 1 and seen == [pod]
    assert json.loads(out) == {
        "cniVersion": "1.0.0",
        "code": 999,
        "msg": "pod default/web is missing: vpp/interface/tap-c1 is failed; "
        "route 0.0.0.0/0 via 10.1.1.1 dev eth0",
    }


async def _never_called(event: object) -> None:
    raise AssertionError("CHECK publishes no event")


async def test_an_unexpected_handler_error_is_answered_999_not_raised() -> None:
    class Broken:
        async def handle(self, request: CNIRequest) -> spec.Result:
            raise RuntimeError("bug")

    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
    data = relay.encode_request({**{k: v.encode() for k, v in env.items()},
                                 "stdin": b'{"cniVersion": "0.3.1"}'})  # fmt: skip
    code, out = relay.decode_reply(await answer(Broken(), data))
    assert code == 1
    assert json.loads(out) == {"cniVersion": "0.3.1", "code": 999, "msg": "internal error: bug"}
