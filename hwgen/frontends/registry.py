"""The front end's layer registry: one decorated handler per Keras layer class.

`@handler("QDense", "Dense", summary="QDense, Dense")` registers a function
`fn(builder, layer, following) -> int` that appends the layer's IR nodes through the
`Builder` and returns how many layers it consumed (2 when it fused `following`, the next
layer of the chain, into its own nodes). The supported-layer list in errors and in
docs/supported.md is `supported_layers()`, derived from the registry, so it cannot fall behind.
The handlers live in `layers/`, whose package imports them all and re-exports `lookup`
and `supported_layers` over the full set.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Handler:
    classes: tuple[str, ...]
    fn: Callable
    summary: str          # how the supported-layer list names these classes
    merge: bool = False   # reads several tensors (`builder.sources`)


HANDLERS: dict[str, Handler] = {}
_ORDER: list[Handler] = []


def handler(*classes: str, summary: str | None = None, merge: bool = False):
    """Register the decorated function for the Keras layer `classes` (`merge`: layers
    that read several tensors)."""
    def register(fn):
        h = Handler(tuple(classes), fn, summary or ", ".join(classes), merge)
        for cls in classes:
            if cls in HANDLERS:
                raise ValueError(f"two front-end handlers for {cls}")
            HANDLERS[cls] = h
        _ORDER.append(h)
        return fn
    return register


def lookup(cls: str) -> Handler | None:
    """The handler of Keras layer class `cls` among those registered (import
    `frontends.layers`, which registers them all, to use the full set)."""
    return HANDLERS.get(cls)


def supported_layers() -> str:
    """The layer classes registered, as the errors and the docs list them."""
    return ", ".join(["InputLayer"] + [h.summary for h in _ORDER])
