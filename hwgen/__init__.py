"""hwgen: compile quantized, pruned QKeras networks into bit-exact, low-power hardware.

The public API is small and imported lazily, so `import hwgen` stays fast:
`convert` (a `HardwareModel`: predict, verify, write, cosim, estimate, export, hls,
report, profile; see `hwgen/api/`), `load_model`, `compile_model`, `FixedType`,
`FrontendOptions`, `HwgenError`, `list_designs`, `list_boards`.
"""
from .errors import HwgenError
from .ir.types import FixedType, Overflow, Precision, Rounding

__all__ = ["HwgenError", "FixedType", "Precision", "Rounding", "Overflow",
           "FrontendOptions", "load_model", "compile_model", "convert", "HardwareModel",
           "list_boards", "list_designs"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "FrontendOptions":
        from .options import FrontendOptions
        return FrontendOptions
    if name == "HardwareModel":
        from .api import HardwareModel
        return HardwareModel
    if name == "sweep":                  # hwgen.sweep.sweep(...): design-space sweeps
        import importlib
        return importlib.import_module(".sweep", __name__)
    raise AttributeError(name)


def convert(model, weights=None, **options):
    """Load `model` and lower it for hardware: a `HardwareModel` (`hwgen.api.convert`
    lists the options)."""
    from .api import convert as _convert
    return _convert(model, weights, **options)


def list_boards() -> list[str]:
    """The boards `HardwareModel.export(board=...)` builds for."""
    from .export.boards import BOARDS
    return list(BOARDS)


def list_designs() -> list[str]:
    """The designs in `designs/` that `convert` takes by name."""
    from .designs import design_names
    return design_names()


def load_model(source, weights=None):
    """Open a model (Keras object, designs/ name, .h5/.keras file, or .json + weights)."""
    from .frontends.loader import load
    return load(source, weights)


def compile_model(source, options=None, weights=None):
    """Load `source` and lower it to the IR. Returns (loaded model, graph)."""
    from .frontends.qkeras import to_ir
    loaded = load_model(source, weights)
    return loaded, to_ir(loaded, options)
