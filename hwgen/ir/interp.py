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

    Returns the output codes [N, *output shape], or with `keep` a dict of every node's
    codes by node name.
    """
    x = as_codes(np.asarray(x))
    if tuple(x.shape[1:]) != tuple(graph.input.shape):
        raise ValueError(f"input codes have shape {x.shape[1:]}, expected {graph.input.shape}")
    t = graph.input.type
    if x.size and (int(np.min(x)) < t.min_code or int(np.max(x)) > t.max_code):
        raise ValueError(f"input codes outside {t} range [{t.min_code}, {t.max_code}]")
    values = {}
    cur = x
    prev = None
    for node in graph.nodes:
        if prev is not None:
            cur = node.evaluate(prev, cur)
        values[node.name] = cur
        prev = node
    return values if keep else cur


def evaluate(node, src, x: np.ndarray) -> np.ndarray:
    """One op: codes of `src` (format `src.type`) to codes of `node` (the op's own
    `evaluate` rule, in its file in `hwgen/ops/`)."""
    return node.evaluate(src, x)
