"""The one rewrite helper passes share: a new graph whose nodes are `fn(node, src)`.

`src` is the node's input as already rewritten (looked up by name, so a DAG works as a
chain does); `fn` returns the node itself, a replacement (`dataclasses.replace` of it, or
a new op with the same name) or raises. Nodes are never edited in place here.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from .graph import Graph


def rewrite(graph: Graph, fn: Callable, **graph_fields) -> Graph:
    done: dict = {}
    nodes = []
    for node in graph.nodes:
        missing = [name for name in node.inputs if name not in done]
        if missing:
            from .check import IRError
            raise IRError(f"%{node.name} reads %{missing[0]}, which is not an earlier node")
        new = fn(node, done[node.inputs[0]] if node.inputs else None)
        done[node.name] = new
        nodes.append(new)
    return dataclasses.replace(graph, nodes=nodes, **graph_fields)


def replacing(kind, fn: Callable) -> Callable:
    """`fn(node, src)` for nodes of class `kind`, every other node kept."""
    return lambda node, src: fn(node, src) if isinstance(node, kind) else node
