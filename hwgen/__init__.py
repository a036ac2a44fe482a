"""hwgen: compile quantized, pruned QKeras networks into bit-exact, low-power hardware.

The public API is small and imported lazily, so `import hwgen` stays fast:
`load_model`, `compile_model`, `FixedType`, `FrontendOptions`, `HwgenError`.
"""
from .errors import HwgenError
from .ir.types import FixedType, Overflow, Precision, Rounding

__all__ = ["HwgenError", "FixedType", "Precision", "Rounding", "Overflow",
           "FrontendOptions", "load_model", "compile_model"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "FrontendOptions":
        from .options import FrontendOptions
        return FrontendOptions
    raise AttributeError(name)


def load_model(source, weights=None):
    """Open a model (Keras object, designs/ name, .h5/.keras file, or .json + weights)."""
    from .frontends.loader import load
    return load(source, weights)


def compile_model(source, options=None, weights=None):
    """Load `source` and lower it to the IR. Returns (loaded model, graph)."""
    from .frontends.qkeras import to_ir
    loaded = load_model(source, weights)
    return loaded, to_ir(loaded, options)
