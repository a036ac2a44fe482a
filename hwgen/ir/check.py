"""The IR verifier: what every graph must satisfy between passes.

Generic facts (unique names, inputs that exist and come earlier, so the order is
topological and acyclic; the graph starts at its one input; as many inputs as the op
reads; outputs that exist; every range inside its node's type) and each op's own `problems(src)` rule (shapes and formats that must agree with its
input). `passes.pipelines.Pipeline.run` calls `check_graph` after every pass when asked
(the tests ask; `hwgen --debug` does too, through HWGEN_CHECK_IR=1).
"""
from __future__ import annotations

import os

import numpy as np

from .graph import Graph


class IRError(Exception):
    """A graph that breaks an invariant: a bug in a pass or front end, not in the model."""


def wanted() -> bool:
    return os.environ.get("HWGEN_CHECK_IR") == "1"


def problems(graph: Graph) -> list[str]:
    out, seen = [], {}
    if not graph.nodes or graph.nodes[0].op != "input":
        return ["the graph does not start at its input"]
    for k, node in enumerate(graph.nodes):
        where = f"%{node.name} ({node.op})"
        if node.name in seen:
            out.append(f"{where}: a second node with this name")
        if k and not node.inputs:
            out.append(f"{where}: no inputs")
        for name in node.inputs:
            if name not in seen:
                out.append(f"{where}: input %{name} is not an earlier node (the order must "
                           "be topological)")
        if k and node.op == "input":
            out.append(f"{where}: a second input")
        if node.lo is not None or node.hi is not None:
            out += _range_problems(node, where)
        if k and node.arity is not None and len(node.inputs) != node.arity:
            out.append(f"{where}: {len(node.inputs)} inputs, the op reads {node.arity}")
        elif k and node.inputs and all(name in seen for name in node.inputs):
            srcs = tuple(seen[name] for name in node.inputs)
            src = srcs if node.arity is None else srcs[0]
            out += [f"{where}: {p}" for p in node.problems(src)]
        seen[node.name] = node
    for name in graph.output_names:
        if name not in seen:
            out.append(f"output %{name} is not a node")
    if len(set(graph.output_names)) != len(graph.output_names):
        out.append("an output is listed twice")
    return out


def _range_problems(node, where: str) -> list[str]:
    if node.lo is None or node.hi is None:
        return [f"{where}: only one end of its range is set"]
    lo, hi = np.asarray(node.lo), np.asarray(node.hi)
    if lo.shape != tuple(node.shape) or hi.shape != tuple(node.shape):
        return [f"{where}: range of shape {lo.shape}, node of shape {tuple(node.shape)}"]
    t = node.type
    bad = []
    if lo.size and (int(lo.min()) < t.min_code or int(hi.max()) > t.max_code):
        bad.append(f"{where}: range [{int(lo.min())}, {int(hi.max())}] outside {t} "
                   f"[{t.min_code}, {t.max_code}]")
    if np.any(lo > hi):
        bad.append(f"{where}: a range with lo > hi")
    return bad


def check_graph(graph: Graph, after: str = "") -> Graph:
    """`graph`, or an IRError listing what is wrong with it."""
    found = problems(graph)
    if found:
        raise IRError(f"invalid IR{' after ' + after if after else ''}: " + "; ".join(found[:5])
                      + (f" (and {len(found) - 5} more)" if len(found) > 5 else ""))
    return graph
