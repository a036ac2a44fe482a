"""Lower a Keras/QKeras model to the IR.

The model is first rebuilt as a float64 twin (`twin.py`); layers are read from the twin
so that every quantizer is evaluated exactly as the twin's `predict` evaluates it. Each
layer goes to its handler in `layers/` (found through `registry.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import HwgenError, UnsupportedError, layer_error
from ..ir.graph import Graph
from ..options import FrontendOptions, check_layer_names
from .builder import Builder
from .loader import LoadedModel
from .layers import lookup, supported_layers
from .twin import build_twin, inbound_tensors


def to_ir(loaded: LoadedModel, options: FrontendOptions | None = None) -> Graph:
    """The IR graph of `loaded` (its float64 twin is kept on `loaded.twin`)."""
    options = options or FrontendOptions()
    _check_layer_names(loaded.model, options)
    _check_layers_supported(loaded.model)
    twin, dropped = build_twin(loaded.model)
    loaded.twin = twin
    topo = topology(twin)
    readers = {name: [r for r in topo.layers if name in topo.inbound[r.name]]
               for name in [topo.input_name] + [layer.name for layer in topo.layers]}
    first = readers[topo.input_name]
    builder = Builder(options, twin.hwgen_weight_quantizers)
    builder.start(twin, first[:1] if len(first) == 1 else [], loaded.meta)
    tensor = {topo.input_name: builder.cur}          # Keras layer -> its output's node
    done: set[str] = set()
    for layer in topo.layers:
        if layer.name in done:
            continue
        h = lookup(type(layer).__name__)
        if h is None:
            raise _unsupported(layer)
        # The next layer, when it is this one's only reader and reads nothing else (a
        # handler may fuse it, e.g. a batch norm with its quantizer).
        after = readers[layer.name]
        following = after[0] if len(after) == 1 and len(topo.inbound[after[0].name]) == 1 \
            and layer.name not in topo.outputs else None
        builder.begin(layer, [tensor[n] for n in topo.inbound[layer.name]], h.merge)
        used = h.fn(builder, layer, following)
        tensor[layer.name] = builder.cur
        if used == 2:
            tensor[following.name] = builder.cur
            done.add(following.name)
    outputs = tuple(tensor[n].name for n in topo.outputs)
    if len(set(outputs)) != len(outputs):
        raise UnsupportedError(f"model '{twin.name}' has two outputs that are the same "
                               "tensor; drop one of them")
    softmax = bool(dropped) and len(outputs) == 1
    graph = Graph(builder.nodes, loaded.name, softmax, builder.exact, builder.notes,
                  outputs=outputs if len(outputs) > 1 else ())
    loaded.softmax_removed = softmax
    loaded.input_quantizer = builder.input_quantizer
    if softmax:
        graph.notes.append("softmax at the output is not in the datapath: the hardware "
                           "outputs the logits (and optionally their argmax)")
    elif dropped:
        graph.notes.append(f"softmax at output(s) {', '.join(dropped)} is not in the "
                           "datapath: the hardware outputs their logits")
    return graph


def _check_layers_supported(model) -> None:
    """Refuse a layer no handler reads before the float64 twin is built: Keras cannot
    rebuild some of them (an LSTM, a MaxPooling3D) from their config in float64, and would
    fail from deep inside. A Keras Softmax layer is left to the loop in `to_ir`: the twin
    drops it at an output."""
    for layer in model.layers:
        cls = type(layer).__name__
        if cls not in ("InputLayer", "Softmax") and lookup(cls) is None:
            raise _unsupported(layer)


def _unsupported(layer) -> UnsupportedError:
    return layer_error(layer.name, f"{type(layer).__name__} layers are not supported",
                       f"Supported layers: {supported_layers()}" + _lambda_hint(layer),
                       UnsupportedError)


def _lambda_hint(layer) -> str:
    if type(layer).__name__ in ("TFOpLambda", "Lambda", "SlicingOpLambda"):
        return (". A Python operator or function on tensors (x + y, x * y, tf.concat) "
                "becomes a Lambda layer: use the Keras merge layers instead (Add, "
                "Subtract, Multiply, Average, Maximum, Minimum, Concatenate)")
    return ""


def _check_layer_names(model, options: FrontendOptions) -> None:
    """Every `--precision LAYER=` must name a layer of the model: a misspelt name would
    otherwise leave that layer at the global precision without a word."""
    check_layer_names("precision", options.layer_precision,
                      [layer.name for layer in model.layers
                       if type(layer).__name__ != "InputLayer"])


@dataclass
class Topology:
    """A model's layers in topological order (the input layer left out), the layers each
    reads (`inbound`, by name), its input layer and its output layers in order."""
    layers: list
    inbound: dict
    input_name: str
    outputs: list


def topology(model) -> Topology:
    """The layers of a Sequential or functional model as a DAG; one input, each layer
    called once."""
    config = model.get_config()
    if "output_layers" not in config:        # Sequential: a chain
        layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        names = ["input"] + [layer.name for layer in layers]
        return Topology(layers, {b: [a] for a, b in zip(names, names[1:])}, "input",
                        [names[-1]])
    if len(config["input_layers"]) != 1:
        raise UnsupportedError(f"model '{model.name}' has {len(config['input_layers'])} "
                               f"inputs; hwgen supports single-input models: concatenate "
                               "the inputs into one before the model, or build a model "
                               "per input")
    inbound, order = {}, []
    for lc in config["layers"]:
        name = lc["config"]["name"]
        nodes = lc.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise layer_error(name, f"{lc['class_name']} is called {len(nodes)} times "
                              "(a shared layer)", "hwgen builds each layer once: give each "
                              "call its own layer", UnsupportedError)
        inbound[name] = [t[0] for node in nodes for t in inbound_tensors(node)]
        order.append(name)
    # Keras lists layers in an order that is topological; checked, not assumed.
    seen = set()
    for name in order:
        if any(n not in seen for n in inbound[name]):
            raise HwgenError(f"layer '{name}' comes before the layers it reads in the "
                             "model's config; re-save the model")
        seen.add(name)
    input_name = config["input_layers"][0][0]
    outputs = [o[0] for o in config["output_layers"]]
    needed, stack = set(), list(outputs)
    while stack:                             # layers that no output depends on: skipped
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack += inbound[name]
    layers = [model.get_layer(n) for n in order if n in needed and n != input_name]
    return Topology(layers, {n: inbound[n] for n in order if n in needed}, input_name,
                    outputs)
