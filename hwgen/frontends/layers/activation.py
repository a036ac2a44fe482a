"""QActivation (a QKeras quantizer) and Activation (linear, relu, softmax at the output,
or any function given a precision)."""
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
