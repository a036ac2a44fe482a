"""Front-end handlers, one module per family of Keras layers; importing this package
registers every handler (`frontends.registry`), in the order the supported-layer list
names them."""
from . import (dense, conv, pooling, spatial, activation, batchnorm, ignored,  # noqa: F401
               reshape, merge)
from ..registry import lookup, supported_layers  # noqa: E402,F401  (the full set)

# The handler modules are imported for their registration; the package re-exports the
# registry's look-up (pyflakes reads this list as their use).
__all__ = ["dense", "conv", "pooling", "spatial", "activation", "batchnorm", "ignored",
           "reshape", "merge", "lookup", "supported_layers"]
