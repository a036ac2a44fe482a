"""Lower a Keras/QKeras model to the IR.

The model is first rebuilt as a float64 twin (`twin.py`); layers are read from the twin
so that every quantizer is evaluated exactly as the twin's `predict` evaluates it. Each
layer goes to its handler in `layers/` (found through `registry.py`).
"""
from __future__ import annotations

from ..errors import HwgenError, UnsupportedError, layer_error
from ..ir.graph import Graph
from ..options import FrontendOptions
from .builder import Builder
from .loader import LoadedModel
from .layers import lookup, supported_layers
from .twin import build_twin


def to_ir(loaded: LoadedModel, options: FrontendOptions | None = None) -> Graph:
    """The IR graph of `loaded` (its float64 twin is kept on `loaded.twin`)."""
    options = options or FrontendOptions()
    _check_layer_names(loaded.model, options)
    twin, dropped = build_twin(loaded.model)
    loaded.twin, loaded.softmax_removed = twin, dropped
    layers = chain(twin)
    builder = Builder(options, twin.hwgen_weight_quantizers)
    builder.start(twin, layers, loaded.meta)
    i = 0
    while i < len(layers):
        layer = layers[i]
        h = lookup(type(layer).__name__)
        if h is None:
            raise layer_error(layer.name, f"{type(layer).__name__} layers are not supported",
                              f"Supported layers: {supported_layers()}", UnsupportedError)
        i += h.fn(builder, layer, layers[i + 1] if i + 1 < len(layers) else None)
    graph = Graph(builder.nodes, loaded.name, dropped, builder.exact, builder.notes)
    if dropped:
        graph.notes.append("softmax at the output is not in the datapath: the hardware "
                           "outputs the logits (and optionally their argmax)")
    return graph


def _check_layer_names(model, options: FrontendOptions) -> None:
    """Every `--precision LAYER=` must name a layer of the model: a misspelt name would
    otherwise leave that layer at the global precision without a word."""
    names = [layer.name for layer in model.layers if type(layer).__name__ != "InputLayer"]
    unknown = sorted(set(options.layer_precision) - set(names))
    if unknown:
        raise HwgenError(f"--precision names {', '.join(repr(u) for u in unknown)}, which "
                         f"{'is not a layer' if len(unknown) == 1 else 'are not layers'} of "
                         f"model '{model.name}'; its layers are: {', '.join(names)}")


def chain(model) -> list:
    """The model's layers from input to output; each must have exactly one input."""
    config = model.get_config()
    if "output_layers" not in config:        # Sequential: already a chain
        return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(config["input_layers"]) != 1:
        raise UnsupportedError(f"model '{model.name}' has {len(config['input_layers'])} "
                               f"inputs; hwgen supports single-input models")
    inbound = {}
    for lc in config["layers"]:
        nodes = lc.get("inbound_nodes") or []
        names = [t[0] for node in nodes for t in _node_tensors(node)]
        if len(names) > 1:
            raise layer_error(lc["config"]["name"], f"{lc['class_name']} has {len(names)} "
                              f"inputs", "hwgen supports chains of single-input layers ("
                              + supported_layers() + ")", UnsupportedError)
        inbound[lc["config"]["name"]] = names[0] if names else None
    order, name = [], config["output_layers"][0][0]
    while name is not None:
        order.append(name)
        name = inbound[name]
    order.reverse()
    return [model.get_layer(n) for n in order if type(model.get_layer(n)).__name__ != "InputLayer"]


def _node_tensors(node):
    if isinstance(node, dict):     # Keras 3 style
        return [a["config"]["keras_history"] for a in node.get("args", []) if isinstance(a, dict)]
    return node
