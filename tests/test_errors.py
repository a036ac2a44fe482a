"""Bad input gets one clear HwgenError naming the layer or file and the fix."""
import subprocess
import sys

import pytest

import hwgen
from hwgen.errors import HwgenError, ModelFileError, UnsupportedError
from hwgen.options import FrontendOptions


def _q(text):
    from .model_factory import quantizer
    return quantizer(text)


def _qmodel(n_in=4, units=3, name="m"):
    import tensorflow as tf
    from qkeras import QDense
    return tf.keras.Sequential([
        tf.keras.layers.InputLayer((n_in,)),
        QDense(units, kernel_quantizer=_q("quantized_bits(6,0)"),
               bias_quantizer=_q("quantized_bits(6,0)"), name="fc")], name=name)


def test_unsupported_layer_is_named():
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((8, 8, 2)),
                                 tf.keras.layers.Conv2DTranspose(2, 3, name="conv"),
                                 tf.keras.layers.Flatten()])
    with pytest.raises(UnsupportedError) as err:
        hwgen.compile_model(model)
    msg = str(err.value)
    assert "layer 'conv': Conv2DTranspose layers are not supported" in msg
    assert "Supported layers: InputLayer, QDense, Dense" in msg


@pytest.mark.parametrize("layer,cls", [
    ("lstm", "LSTM"), ("pool3d", "MaxPooling3D"), ("gru", "GRU")])
def test_a_layer_keras_cannot_rebuild_in_float64_is_named_before_the_twin(layer, cls):
    """Keras failed from deep inside rebuilding these from their config for the float64
    twin (an LSTM: 'as_list() is not defined on an unknown TensorShape'; a MaxPooling3D:
    'DataType float64 not in list of allowed values'); they are refused by name first."""
    import tensorflow as tf
    L = tf.keras.layers
    body = {"lstm": ((5, 3), L.LSTM(4, name=layer)), "gru": ((5, 3), L.GRU(4, name=layer)),
            "pool3d": ((4, 4, 4, 1), L.MaxPooling3D(2, name=layer))}[layer]
    model = tf.keras.Sequential([L.InputLayer(body[0]), body[1], L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedError, match=f"layer '{layer}': {cls} layers are not "
                       "supported. Supported layers: InputLayer, QDense"):
        hwgen.compile_model(model, FrontendOptions.from_strings("fixed<8,3>", ["fixed<8,3>"]))


def test_stochastic_rounding_is_rejected():
    import tensorflow as tf
    from qkeras import QDense
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((4,)), QDense(
        2, kernel_quantizer=_q("quantized_bits(6,0,use_stochastic_rounding=True)"),
        use_bias=False, name="noisy")])
    with pytest.raises(UnsupportedError, match="layer 'noisy': kernel quantizer .* uses "
                       "stochastic rounding.*Set use_stochastic_rounding=False"):
        hwgen.compile_model(model)


@pytest.mark.parametrize("quantizer,name,message", [
    ("quantized_bits(4,0,alpha='auto_po2')", "act",
     "layer 'act': activation .* computes its scale from each batch"),
    ("own", "cube", "layer 'cube': activation .*cubed_quantizer.* is not supported. "
     "Supported quantizers: quantized_bits.*quantized_hswish"),
    ("own without get_config", "cube", r"layer 'cube': Keras cannot write out its "
     r"configuration \(Cannot serialize .*unwritable.*give your own class a get_config"),
])
def test_unsupported_activation_quantizer_is_rejected(quantizer, name, message):
    """A user's own quantizer class: named, with what hwgen takes (without get_config
    Keras itself cannot write the model out; that was a TypeError from inside Keras)."""
    from qkeras import QActivation

    class unwritable:            # noqa: N801 - a user's own quantizer class, QKeras-style
        def __call__(self, x):
            return x * x * x

    class cubed_quantizer(unwritable):    # noqa: N801
        def get_config(self):
            return {}
    own = {"own": cubed_quantizer, "own without get_config": unwritable}
    model = _qmodel()
    model.add(QActivation(own[quantizer]() if quantizer in own else _q(quantizer),
                          name=name))
    with pytest.raises(UnsupportedError, match=message):
        hwgen.compile_model(model)


def test_float_layer_needs_precision():
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((4,)),
                                 tf.keras.layers.Dense(3, name="dense_a")])
    with pytest.raises(HwgenError, match=r"layer 'dense_a': Dense has float \(unquantized\) "
                       r"kernel values and no precision. Pass --precision 'fixed<16,6>'"):
        hwgen.compile_model(model)
    _, graph = hwgen.compile_model(model, FrontendOptions.from_strings(
        None, ["dense_a=fixed<12,4,RND_CONV,SAT>"]))
    assert not graph.exact and str(graph.output.type) == "fixed<12,4>"


def test_rank4_dense_is_refused_with_a_hint():
    """A Dense on a sequence or an image is a 1x1 convolution (tests/test_conv.py); on a
    rank-4 tensor hwgen has no window to put it on."""
    import tensorflow as tf
    from qkeras import QDense
    model = tf.keras.Sequential([tf.keras.layers.InputLayer((2, 3, 4, 5)), QDense(
        2, kernel_quantizer=_q("quantized_bits(6,0)"), use_bias=False, name="fc4d")])
    with pytest.raises(UnsupportedError, match="layer 'fc4d': Dense on a rank-4 input .* "
                       "Add a Flatten or a Reshape before it"):
        hwgen.compile_model(model)


def test_a_folder_that_is_no_keras_savedmodel_is_named(tmp_path):
    """A folder is read as a SavedModel; one without saved_model.pb, or a SavedModel of a
    plain TensorFlow function (no Keras layers), gets an error that says what to save."""
    import tensorflow as tf
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="not a SavedModel .no saved_model.pb"):
        hwgen.load_model(str(tmp_path / "empty"))
    module = tf.Module()
    module.f = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None, 3])])
    tf.saved_model.save(module, str(tmp_path / "fn"))
    with pytest.raises(ModelFileError, match="without Keras's layers .*model.save"):
        hwgen.load_model(str(tmp_path / "fn"))


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="model '.*nope.h5' not found: no such file and no "
                       "such design"):
        hwgen.load_model(str(tmp_path / "nope.h5"))


def test_missing_weights_file(tmp_path):
    arch = tmp_path / "net.json"
    arch.write_text(_qmodel().to_json())
    with pytest.raises(ModelFileError, match=r"weights file '.*net_weights.h5' not found for "
                       r"architecture .* pass --weights FILE"):
        hwgen.load_model(str(arch))


def test_corrupt_hdf5(tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 50)
    with pytest.raises(ModelFileError, match="cannot read '.*broken.h5' as HDF5 .*: the file "
                       "is damaged or not an HDF5 file"):
        hwgen.load_model(str(bad))


def test_corrupt_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"class_name": "Sequential", "config": {')
    (tmp_path / "broken_weights.h5").write_bytes(b"")
    with pytest.raises(ModelFileError, match="cannot read the architecture JSON '.*broken.json'"):
        hwgen.load_model(str(bad))


def test_weights_shape_mismatch(tmp_path):
    arch = tmp_path / "net.json"
    arch.write_text(_qmodel(units=3).to_json())
    other = _qmodel(units=5)
    other.save_weights(str(tmp_path / "other.h5"))
    with pytest.raises(ModelFileError, match="the weights in '.*other.h5' do not fit the "
                       "architecture in '.*net.json'"):
        hwgen.load_model(str(arch), weights=str(tmp_path / "other.h5"))


def test_weights_only_file_given_as_model(tmp_path):
    _qmodel().save_weights(str(tmp_path / "w.h5"))
    with pytest.raises(ModelFileError, match="holds only weights, no architecture"):
        hwgen.load_model(str(tmp_path / "w.h5"))


def test_softmax_in_the_middle_is_rejected():
    import tensorflow as tf
    model = _qmodel()
    model.add(tf.keras.layers.Activation("softmax", name="mid_softmax"))
    model.add(tf.keras.layers.Activation("relu", name="after"))
    with pytest.raises(UnsupportedError, match="layer 'mid_softmax': softmax is only supported "
                       "as the last layer"):
        hwgen.compile_model(model)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hwgen.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_error_exit_status_and_no_traceback(tmp_path):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not hdf5 at all")
    proc = _cli("inspect", str(bad))
    assert proc.returncode == 2
    assert "hwgen: error: cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = _cli("--debug", "inspect", str(bad))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_cli_bad_precision_string():
    proc = _cli("inspect", "jet_tagger", "--precision", "fixed<16>")
    assert proc.returncode == 2
    assert "cannot read --precision 'fixed<16>'" in proc.stderr
    assert "Traceback" not in proc.stderr
