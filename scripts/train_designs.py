"""Train the model zoo in designs/ from code, seeded, on offline data.

    .venv/bin/python scripts/train_designs.py [jet_tagger] [digits_mlp] [digits_mlp_pruned]
        [digits_resmlp] [digits_cnn] [waveform_cnn1d]

Each design folder gets `model.h5` (full QKeras model), `meta.json` (how it was made,
accuracy, sparsity, input grid) and `test_inputs.npy` (its test inputs as codes on the
input grid). Accuracy is measured twice: QKeras's predict (float32) and hwgen's bit-exact
reference, which is what the hardware computes.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
from hwgen.designs_data import SEED, digits_data, jet_data, waveform_data  # noqa: E402


def _seed(seed: int) -> None:
    import tensorflow as tf
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _qmlp(n_in: int, hidden: list[int], n_out: int, wbits: int, abits: int, aint: int,
          name: str):
    """A QKeras MLP: QDense + quantized_relu per hidden layer, QDense + softmax out."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    layers = [tf.keras.layers.InputLayer(input_shape=(n_in,), name="input")]
    for i, units in enumerate(hidden, 1):
        layers += [QDense(units, kernel_quantizer=quantized_bits(wbits, 0, alpha=1),
                          bias_quantizer=quantized_bits(wbits, 0, alpha=1), name=f"fc{i}"),
                   QActivation(quantized_relu(abits, aint), name=f"relu{i}")]
    layers += [QDense(n_out, kernel_quantizer=quantized_bits(wbits, 0, alpha=1),
                      bias_quantizer=quantized_bits(wbits, 0, alpha=1), name="output"),
               tf.keras.layers.Activation("softmax", name="softmax")]
    return tf.keras.Sequential(layers, name=name)


def _fit(model, x, y, epochs: int, callbacks=()):
    import tensorflow as tf
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, validation_split=0.1,
              callbacks=list(callbacks))


def _save(name: str, model, meta: dict, test_codes: np.ndarray, test_y: np.ndarray,
          x_test: np.ndarray) -> None:
    import hwgen
    from hwgen.ir import interp
    out = ROOT / "designs" / name
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.h5", include_optimizer=False)
    (out / "meta.json").write_text(json.dumps(meta))      # makes the design loadable
    np.save(out / "test_inputs.npy", test_codes.astype(np.int32))
    np.save(out / "test_labels.npy", test_y.astype(np.int16))
    keras_acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == test_y))
    _, graph = hwgen.compile_model(name)
    ref = interp.run(graph, test_codes)
    ref_acc = float(np.mean(np.argmax(np.asarray(ref, dtype=np.float64), 1) == test_y))
    weights = [n.weights for n in graph.nodes if n.op == "dense"] + \
        [n.kernel for n in graph.nodes if n.op == "conv" and not n.window_sum]
    total = sum(w.size for w in weights)
    zeros = sum(int(np.sum(w == 0)) for w in weights)
    meta.update({"accuracy": {"qkeras_predict": round(keras_acc, 4),
                              "hwgen_reference": round(ref_acc, 4),
                              "test_vectors": int(len(test_y))},
                 "weights": int(total), "zero_weights": int(zeros),
                 "sparsity": round(zeros / total, 4),
                 "made_by": f"scripts/train_designs.py {name} (seed {SEED})"})
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"{name}: accuracy {keras_acc:.4f} (QKeras) {ref_acc:.4f} (reference), "
          f"sparsity {zeros / total:.3f}")


def jet_tagger() -> None:
    _seed(SEED)
    x, y = jet_data(SEED)
    split = int(0.8 * len(x))
    model = _qmlp(16, [64, 32, 32], 5, 6, 6, 0, "jet_tagger")
    _fit(model, x[:split], y[:split], epochs=20)
    x_test, y_test = x[split:split + 2000], y[split:split + 2000]
    # Test inputs on the model's input grid fixed<16,6> (10 fraction bits).
    codes = np.clip(np.rint(x_test * 2**10), -2**15, 2**15 - 1).astype(np.int64)
    meta = {"summary": "16-64-32-32-5 jet tagger, 6-bit weights, quantized_relu(6,0); "
                       "synthetic data",
            "architecture": "QDense 16-64-32-32-5, quantized_bits(6,0,alpha=1) weights and "
                            "biases, quantized_relu(6,0), softmax output",
            "data": "synthetic: 16 standardised features, 5 classes of Gaussian mixtures "
                    "(the jet-substructure data set is not available offline)",
            "input_format": "fixed<16,6>"}
    _save("jet_tagger", model, meta, codes, y_test, codes / 2**10)


def _digits_model(name: str, pruned: bool):
    import tensorflow as tf
    _seed(SEED)
    x_tr, x_te, y_tr, y_te = digits_data(SEED)
    model = _qmlp(64, [32], 10, 6, 6, 2, name)
    if not pruned:
        _fit(model, x_tr / 16, y_tr, epochs=60)
    else:
        import tensorflow_model_optimization as tfmot
        _fit(model, x_tr / 16, y_tr, epochs=30)
        schedule = tfmot.sparsity.keras.ConstantSparsity(0.8, begin_step=0, frequency=10)
        model = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        _fit(model, x_tr / 16, y_tr, epochs=60,
             callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        model = tfmot.sparsity.keras.strip_pruning(model)
    del tf
    meta = {"summary": ("64-32-10 digits MLP, 80 % of weights pruned" if pruned else
                        "64-32-10 digits MLP, 6-bit weights") + ", scikit-learn 8x8 digits",
            "architecture": "QDense 64-32-10, quantized_bits(6,0,alpha=1) weights and biases, "
                            "quantized_relu(6,2), softmax output",
            "data": "scikit-learn's bundled 8x8 digits (pixels 0..16 scaled by 1/16), "
                    "80/20 stratified split",
            "input_format": "ufixed<5,1>",
            "pruning": ("tensorflow-model-optimization prune_low_magnitude, constant 80 % "
                        "sparsity, after 30 dense epochs" if pruned else "none")}
    # Pixel p in 0..16 is the value p/16: code p on ufixed<5,1> (4 fraction bits).
    _save(name, model, meta, x_te.astype(np.int64), y_te, x_te / 16)


def _residual_mlp(name: str):
    """A functional QKeras MLP with a skip connection: fc1 -> relu1, then a residual
    block relu1 + relu2(fc2(relu1)) into the output layer (a ResNet block's shape)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu
    q = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1),
             bias_quantizer=quantized_bits(6, 0, alpha=1))
    x = tf.keras.Input((64,), name="pixels")
    h1 = QActivation(quantized_relu(6, 2), name="relu1")(QDense(32, name="fc1", **q)(x))
    h2 = QActivation(quantized_relu(6, 2), name="relu2")(QDense(32, name="fc2", **q)(h1))
    res = QActivation(quantized_bits(8, 3, keep_negative=False), name="res_q")(
        tf.keras.layers.Add(name="residual")([h1, h2]))
    out = QDense(10, name="output", **q)(res)
    return tf.keras.Model(x, tf.keras.layers.Activation("softmax", name="softmax")(out),
                          name=name)


def digits_resmlp() -> None:
    _seed(SEED)
    x_tr, x_te, y_tr, y_te = digits_data(SEED)
    model = _residual_mlp("digits_resmlp")
    _fit(model, x_tr / 16, y_tr, epochs=60)
    meta = {"summary": "64-32-(32 + skip)-10 residual digits MLP, 6-bit weights, "
                       "scikit-learn 8x8 digits",
            "architecture": "functional: QDense 64-32 + quantized_relu(6,2), a residual "
                            "block (QDense 32-32 + quantized_relu(6,2), Add with its "
                            "input, quantized_bits(8,3,keep_negative=False)), QDense 32-10, "
                            "softmax output; quantized_bits(6,0,alpha=1) weights and biases",
            "data": "scikit-learn's bundled 8x8 digits (pixels 0..16 scaled by 1/16), "
                    "80/20 stratified split",
            "input_format": "ufixed<5,1>",
            "pruning": "none"}
    _save("digits_resmlp", model, meta, x_te.astype(np.int64), y_te, x_te / 16)


def digits_cnn() -> None:
    """The 8x8 digits as images through a small QKeras CNN."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    _seed(SEED)
    x_tr, x_te, y_tr, y_te = digits_data(SEED)
    q = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1),
             bias_quantizer=quantized_bits(6, 0, alpha=1))
    L = tf.keras.layers
    model = tf.keras.Sequential([
        L.InputLayer(input_shape=(8, 8, 1), name="image"),
        QConv2D(8, (3, 3), name="conv1", **q),
        QActivation(quantized_relu(6, 2), name="relu1"),
        L.MaxPooling2D((2, 2), name="pool1"),
        L.Flatten(name="flatten"),
        QDense(10, name="output", **q),
        L.Activation("softmax", name="softmax")], name="digits_cnn")
    img = lambda x: (x / 16).reshape(-1, 8, 8, 1)      # noqa: E731
    _fit(model, img(x_tr), y_tr, epochs=60)
    meta = {"summary": "8x8 digits CNN: QConv2D 3x3x8, max pool 2x2, QDense 72-10; "
                       "6-bit weights",
            "architecture": "QConv2D(8, 3x3, valid) + quantized_relu(6,2), MaxPooling2D "
                            "2x2, Flatten, QDense 72-10, softmax output; "
                            "quantized_bits(6,0,alpha=1) weights and biases",
            "data": "scikit-learn's bundled 8x8 digits as 8x8x1 images (pixels 0..16 "
                    "scaled by 1/16), 80/20 stratified split",
            "input_format": "ufixed<5,1>",
            "pruning": "none"}
    _save("digits_cnn", model, meta, x_te.astype(np.int64).reshape(-1, 8, 8, 1), y_te,
          img(x_te))


def waveform_cnn1d() -> None:
    """A 1-D CNN over a time series (two convolutions, max and global average pooling)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu
    _seed(SEED)
    x, y = waveform_data(SEED)
    codes = np.clip(np.round(x * 32), -32, 31).astype(np.int64)       # fixed<6,1>
    x = codes / 32
    x_tr, x_te, y_tr, y_te = x[:3200], x[3200:], y[:3200], y[3200:]
    q = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1),
             bias_quantizer=quantized_bits(6, 0, alpha=1))
    L = tf.keras.layers
    model = tf.keras.Sequential([
        L.InputLayer(input_shape=(32, 1), name="signal"),
        QConv1D(8, 5, name="conv1", **q),
        QActivation(quantized_relu(6, 2), name="relu1"),
        L.MaxPooling1D(2, name="pool1"),
        QConv1D(8, 3, name="conv2", **q),
        QActivation(quantized_relu(6, 2), name="relu2"),
        L.GlobalAveragePooling1D(name="gap"),
        QActivation(quantized_bits(8, 2, keep_negative=False), name="gap_q"),
        QDense(4, name="output", **q),
        L.Activation("softmax", name="softmax")], name="waveform_cnn1d")
    _fit(model, x_tr, y_tr, epochs=40)
    meta = {"summary": "1-D CNN over 32-sample waveforms: two QConv1D, max pool, global "
                       "average pool, QDense 8-4; 6-bit weights",
            "architecture": "QConv1D(8, 5) + quantized_relu(6,2), MaxPooling1D 2, "
                            "QConv1D(8, 3) + quantized_relu(6,2), GlobalAveragePooling1D "
                            "(divides by 12 in float32) + quantized_bits(8,2,"
                            "keep_negative=False), QDense 8-4, softmax output; "
                            "quantized_bits(6,0,alpha=1) weights and biases",
            "data": "synthetic sensor signals made by hwgen/designs_data.py "
                    "(waveform_data): 32 samples of a sine, square, triangle or sawtooth "
                    "wave with random period, phase, amplitude, offset and noise; 3200 "
                    "training and 800 test signals",
            "input_format": "fixed<6,1>",
            "pruning": "none"}
    _save("waveform_cnn1d", model, meta, codes[3200:], y_te, x_te)


def main(argv: list[str]) -> int:
    jobs = {"jet_tagger": jet_tagger,
            "digits_mlp": lambda: _digits_model("digits_mlp", False),
            "digits_mlp_pruned": lambda: _digits_model("digits_mlp_pruned", True),
            "digits_resmlp": digits_resmlp, "digits_cnn": digits_cnn,
            "waveform_cnn1d": waveform_cnn1d}
    for name in argv or list(jobs):
        jobs[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
