"""The one rewrite helper passes share: a new graph whose nodes are `fn(node, src)`.

`src` is the node's input as already rewritten (looked up by name, so a DAG works as a
chain does; a tuple for an op that reads several, as `Graph.sources` gives them); `fn`
returns the node itself, a replacement (`dataclasses.replace` of it, or a new op with the
same name), None to drop a one-input node (its readers, and the outputs, then read its
input), or raises. Nodes are never edited in place here.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from .graph import Graph


def rewrite(graph: Graph, fn: Callable, **graph_fields) -> Graph:
    done: dict = {}
    moved: dict[str, str] = {}          # dropped node -> the node its readers now read
    nodes = []
    for node in graph.nodes:
        inputs = tuple(moved.get(name, name) for name in node.inputs)
        missing = [name for name in inputs if name not in done]
        if missing:
            from .check import IRError
            raise IRError(f"%{node.name} reads %{missing[0]}, which is not an earlier node")
        if inputs != node.inputs:
            node = dataclasses.replace(node, inputs=inputs)
        srcs = tuple(done[name] for name in inputs)
        new = fn(node, srcs if node.arity is None else (srcs[0] if srcs else None))
        if new is None:
            if len(inputs) != 1:
                from .check import IRError
                raise IRError(f"%{node.name}: only a node with one input can be dropped")
            moved[node.name] = inputs[0]
            continue
        done[new.name] = new
        nodes.append(new)
    if moved and "outputs" not in graph_fields:
        graph_fields["outputs"] = tuple(moved.get(n, n) for n in graph.output_names)
    return dataclasses.replace(graph, nodes=nodes, **graph_fields)


def replacing(kind, fn: Callable) -> Callable:
    """`fn(node, src)` for nodes of class `kind`, every other node kept."""
    return lambda node, src: fn(node, src) if isinstance(node, kind) else node
