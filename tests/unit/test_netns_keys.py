"""Keys of pod-side Linux values embed the pod's netns path: two paths, two keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from contivpp.model import keys


def test_underscore_and_slash_do_not_collide() -> None:
    assert keys.linux_route("/var/run/netns/a_b", "0.0.0.0/0") != keys.linux_route(
        "/var/run/netns/a/b", "0.0.0.0/0"
    )
    assert keys.linux_neighbor("/run/a_b", "eth0", "10.1.1.1") != keys.linux_neighbor(
        "/run/a/b", "eth0", "10.1.1.1"
    )


def test_plain_paths_keep_their_recorded_keys() -> None:
    # Literal keys of tests/golden/three-pods.json: recorded logs and golden files stay valid.
    assert keys.linux_route("/var/run/netns/db-0", "0.0.0.0/0") == (
        "linux/route/var_run_netns_db-0/0.0.0.0/0"
    )
    assert keys.linux_neighbor("/var/run/netns/web-1b", "eth0", "10.1.1.1") == (
        "linux/arp/var_run_netns_web-1b/eth0/10.1.1.1"
    )


paths = st.text(alphabet="ab_/%.-h", min_size=0, max_size=12) | st.sampled_from(["host", "/host"])


@settings(max_examples=300, deadline=None)
@given(paths, st.data())
def test_the_netns_part_of_a_key_is_injective(a: str, data: st.DataObject) -> None:
    # Near misses first (what a random pair would hardly ever hit), then any other path.
    near = [a.replace("_", "/"), a.replace("/", "_"), "/" + a, a + "/", a.strip("/"), "host"]
    for b in [*near, data.draw(paths)]:
        if a != b:
            assert keys.linux_route(a, "0.0.0.0/0") != keys.linux_route(b, "0.0.0.0/0"), (a, b)
