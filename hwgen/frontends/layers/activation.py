"""QActivation (a QKeras quantizer), Activation (linear, relu, softmax at the output, or
any function given a precision) and Keras's activation layers (ReLU, LeakyReLU, ELU)."""
from ..builder import unwrap
from ..registry import handler


@handler("QActivation")
def quantized_activation(b, layer, following) -> int:
    b.quantizer(unwrap(layer.quantizer), layer)
    return 1


@handler("Activation", summary="Activation (linear, relu, softmax at the output)")
def activation(b, layer, following) -> int:
    b.activation(layer.activation, layer, following is None)
    return 1


def _function(fn, name: str):
    """`fn` under the name the builder and its errors use."""
    fn.__name__ = name
    return fn


@handler("ReLU", "LeakyReLU", "ELU",
         summary="ReLU (plain; with max_value, negative_slope or threshold given a "
                 "precision), LeakyReLU and ELU (given a precision)")
def activation_layer(b, layer, following) -> int:
    """A plain ReLU is the exact `Relu` op, as Activation('relu'); any other form is a
    float function, tabulated at the layer's precision as any Activation function is (the
    function evaluated in float64 by Keras's own backend)."""
    from tensorflow.keras import backend
    cfg = layer.get_config()
    cls = type(layer).__name__
    if cls == "ReLU":
        top, slope = cfg.get("max_value"), float(cfg.get("negative_slope") or 0.0)
        cut = float(cfg.get("threshold") or 0.0)
        if top is None and slope == 0.0 and cut == 0.0:
            fn = _function(lambda v: backend.relu(v), "relu")
        else:
            fn = _function(lambda v: backend.relu(v, alpha=slope, max_value=top, threshold=cut),
                           f"ReLU(max_value={top}, negative_slope={slope}, threshold={cut})")
    else:
        alpha = float(cfg["alpha"])
        fn = _function(lambda v: backend.relu(v, alpha=alpha) if cls == "LeakyReLU"
                       else backend.elu(v, alpha), f"{cls}(alpha={alpha})")
    b.activation(fn, layer, following is None)
    return 1
