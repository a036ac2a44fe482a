"""Layers that compute nothing at inference: dropout, noise, regularizers."""
from ..registry import handler

IDENTITY_AT_INFERENCE = ("Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
                         "SpatialDropout1D", "SpatialDropout2D", "ActivityRegularization")


@handler(*IDENTITY_AT_INFERENCE, summary="Dropout")
def identity_at_inference(b, layer, following) -> int:
    return 1
