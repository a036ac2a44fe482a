"""The front end's handler registry: one handler per Keras layer class, and the supported
list in errors and in docs/supported.md derived from it."""
from pathlib import Path

import pytest

from hwgen.frontends import layers as registry
from hwgen.frontends.registry import handler

SUPPORTED = Path(__file__).resolve().parents[1] / "docs" / "supported.md"


def test_every_layer_class_has_one_handler_and_the_list_names_them_all():
    listed = registry.supported_layers()
    for cls in ("QDense", "Dense", "QActivation", "Activation", "BatchNormalization",
                "QBatchNormalization", "Flatten", "Reshape", "Dropout"):
        h = registry.lookup(cls)
        assert h is not None and cls in h.classes and cls in listed
    for cls in ("QConv2D", "Conv1D", "QDepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
                "GlobalAveragePooling1D", "QAveragePooling2D", "ZeroPadding2D", "UpSampling1D"):
        assert registry.lookup(cls) is not None and cls in registry.lookup(cls).classes
    assert registry.lookup("QConv2DTranspose") is None


def test_a_second_handler_for_a_class_is_refused():
    with pytest.raises(ValueError, match="two front-end handlers for QDense"):
        handler("QDense")(lambda b, layer, following: 1)


def test_the_docs_list_exactly_the_registered_layers():
    text = " ".join(SUPPORTED.read_text().split())
    assert f"): {registry.supported_layers()}." in text


def test_an_unregistered_layer_names_the_registry_list():
    import tensorflow as tf
    from hwgen import HwgenError, compile_model
    inp = tf.keras.Input((4, 1))
    out = tf.keras.layers.Conv1DTranspose(2, 3, name="conv")(inp)
    with pytest.raises(HwgenError) as err:
        compile_model(tf.keras.Model(inp, out))
    assert f"Supported layers: {registry.supported_layers()}" in str(err.value)
