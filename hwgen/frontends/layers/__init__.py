"""Front-end handlers, one module per family of Keras layers; importing this package
registers every handler (`frontends.registry`), in the order the supported-layer list
names them."""
from . import (dense, conv, pooling, spatial, activation, batchnorm, ignored,  # noqa: F401
               reshape, merge)
from ..registry import lookup, supported_layers  # noqa: E402,F401  (the full set)
