"""Graphviz DOT export of the scheduler graph, for "why is this value PENDING?" debugging.

Nodes are keys coloured by state (properties drawn as ellipses); solid edges go from a value to
the values satisfying its dependencies (labelled with the dependency label); dashed edges go from
a base value to the values it derives. An unsatisfied dependency points at a red placeholder, so
the missing piece is visible at a glance. The output is sorted, hence stable across runs.
"""

from __future__ import annotations

from contivpp.reconcile.api import Dependency, Key
from contivpp.reconcile.deps import matches
from contivpp.reconcile.graph import Graph, Node
from contivpp.reconcile.status import ValueState

_COLOURS = {
    ValueState.CONFIGURED: "palegreen",
    ValueState.OBTAINED: "lightblue",
    ValueState.PENDING: "khaki",
    ValueState.FAILED: "tomato",
    ValueState.RETRYING: "orange",
    ValueState.INVALID: "orchid",
    ValueState.UNIMPLEMENTED: "lightgrey",
    ValueState.MISSING: "salmon",
}


def quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    lines = [
        "digraph kvscheduler {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];',
        "  edge [fontsize=9];",
    ]
    keys = sorted(graph.nodes)
    for key in keys:
        node = graph.nodes[key]
        colour = _COLOURS.get(node.state, "white")
        shape = ", shape=ellipse" if node.is_property else ""
        label = f"{key}\n{node.state.value}"
        lines.append(f"  {quote(key)} [label={quote(label)}, fillcolor={colour}{shape}];")
    for key in keys:
        node = graph.nodes[key]
        for dep in _dependencies(node):
            targets = _targets(graph, node, dep)
            if targets:
                for target in targets:
                    lines.append(f"  {quote(key)} -> {quote(target)} [label={quote(dep.label)}];")
            else:
                placeholder = f"missing: {key} / {dep.label}"
                lines.append(
                    f"  {quote(placeholder)} [label={quote(dep.label)}, shape=plaintext, "
                    "fontcolor=red, style=solid];"
                )
                lines.append(f"  {quote(key)} -> {quote(placeholder)} [color=red, style=dotted];")
        for child in sorted(graph.children(key)):
            lines.append(f'  {quote(key)} -> {quote(child)} [style=dashed, label="derives"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dependencies(node: Node) -> tuple[Dependency, ...]:
    return node.applied_deps if node.available else node.desired_deps


def _targets(graph: Graph, node: Node, dep: Dependency) -> list[Key]:
    if dep.key is not None:
        target = graph.get(dep.key)
        return [dep.key] if target is not None and target.available else []
    found = {k for k in graph.providers.providers(node.key, dep) if k != node.key}
    return sorted(k for k in found if matches(dep, k))
