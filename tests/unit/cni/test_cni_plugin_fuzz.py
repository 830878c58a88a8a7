"""Hypothesis on ``contivpp-cni`` itself (``plugin.run``: environment and stdin in, exit status
and output out), with no agent listening: the plugin answers alone, in the spec's shape, and
never with a traceback whatever kubelet (or a broken conflist) hands it."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from contivpp.cni import plugin

SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 999}
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
numbers = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["1e999", "99999999999999999999999999", "-5", "0", "0.0001", "1.2.3"])
)


@st.composite
def stdins(draw: st.DrawFn, socket: str) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=80))
    version = draw(st.sampled_from(["0.3.1", "1.0.0", "1.1.0"]) | texts)
    timeout = draw(numbers)
    agent = draw(st.sampled_from([socket, ""]) | texts)
    text = f'{{"cniVersion": {json.dumps(version)}, "agentSocket": {json.dumps(agent)}, '
    return (text + f'"timeoutSeconds": {timeout}}}').encode()


@settings(max_examples=200, deadline=None)
@given(
    command=st.sampled_from(["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION", ""]) | texts,
    data=st.data(),
)
def test_the_plugin_alone_answers_in_the_spec_shape(command: str, data: st.DataObject) -> None:
    nobody = str(Path("/nonexistent-contivpp") / "cni.sock")
    stdin = data.draw(stdins(nobody))
    code, out, err = plugin.run({"CNI_COMMAND": command, "CNI_CONTAINERID": "c"}, stdin)
    if command in ("", "VERSION"):
        assert code == 0
        return
    assert code == 1 and err == ""
    error = json.loads(out)
    assert error["code"] in SPEC_CODES and error["msg"], error
