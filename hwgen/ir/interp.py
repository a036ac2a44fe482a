"""The reference: what the hardware must compute, in integers.

It walks the graph and applies each op's `evaluate` rule (its file in `hwgen/ops/` is the
definition of its semantics). Back ends are tested against it with exact equality; it is
tested against QKeras's own `predict`.
"""
from __future__ import annotations

import numpy as np

from .graph import Graph
from .types import as_codes


def run(graph: Graph, x: np.ndarray, keep: bool = False):
    """Evaluate `graph` on input codes `x` of shape [N, *input shape].

    Returns the output codes [N, *output shape] (a graph with several outputs: all of
    them flattened and side by side in output order, [N, total elements], as `out_data`
    holds them), or with `keep` a dict of every node's codes by node name.
    """
    x = as_codes(np.asarray(x))
    if tuple(x.shape[1:]) != tuple(graph.input.shape):
        raise ValueError(f"input codes have shape {x.shape[1:]}, expected {graph.input.shape}")
    t = graph.input.type
    if x.size and (int(np.min(x)) < t.min_code or int(np.max(x)) > t.max_code):
        raise ValueError(f"input codes outside {t} range [{t.min_code}, {t.max_code}]")
    values = {graph.input.name: x}
    for node in graph.nodes[1:]:
        src = graph.sources(node)
        codes = tuple(values[n] for n in node.inputs)
        values[node.name] = node.evaluate(src, codes if node.arity is None else codes[0])
    if keep:
        return values
    heads = graph.output_names
    if len(heads) == 1:
        return values[heads[0]]
    return np.concatenate([values[h].reshape(len(x), -1) for h in heads], axis=1)


def evaluate(node, src, x: np.ndarray) -> np.ndarray:
    """One op: codes of `src` (format `src.type`) to codes of `node` (the op's own
    `evaluate` rule, in its file in `hwgen/ops/`)."""
    return node.evaluate(src, x)
