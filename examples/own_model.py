"""A QKeras model of your own, trained for a few epochs on synthetic data: convert it,
compare hwgen's predict with Keras's on the test set (exact on the input grid), pick the
reuse factor that fits an iCE40 UP5K, and co-simulate (run by tests/test_docs.py)."""
import numpy as np
import tensorflow as tf
from qkeras import QActivation, QDense, quantized_bits, quantized_relu

import hwgen

rng = np.random.default_rng(0)
x_train = rng.normal(size=(2000, 12))
y_train = (x_train[:, :3].sum(axis=1) > 0).astype(int)
grid = 2.0 ** -4                               # inputs on the fixed<8,4> grid
x_test = np.clip(np.round(rng.normal(size=(300, 12)) / grid) * grid, -8, 8 - grid)

inp = tf.keras.Input((12,), name="features")
h = QActivation(quantized_bits(8, 3), name="in_q")(inp)          # the input grid
h = QDense(16, kernel_quantizer=quantized_bits(6, 0, alpha=1),
           bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc1")(h)
h = QActivation(quantized_relu(6, 2), name="relu1")(h)
h = QDense(2, kernel_quantizer=quantized_bits(6, 0, alpha=1),
           bias_quantizer=quantized_bits(6, 0, alpha=1), name="fc2")(h)
out = tf.keras.layers.Activation("softmax", name="softmax")(h)
model = tf.keras.Model(inp, out, name="my_tagger")
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=3, verbose=0)

hw = hwgen.convert(model, reuse="auto", target="ice40", log=None)
logits = tf.keras.Model(model.inputs, model.get_layer("fc2").output)   # before softmax
assert (hw.predict(x_test) == logits.predict(x_test, verbose=0)).all()
print("accuracy, hwgen:", np.mean(hw.predict(x_test).argmax(axis=1) == (x_test[:, :3].sum(axis=1) > 0)))
print(hw.write())                              # the reuse factor that fits the UP5K
sim = hw.cosim(x_test)
assert sim.mismatches == 0
print(sim)
