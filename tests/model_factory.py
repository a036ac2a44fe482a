"""Seeded random QKeras models covering every supported quantizer and option.

Used by the random-model tests here and, later, by the RTL tests.
"""
from __future__ import annotations

import numpy as np

# Weight quantizers (strings are evaluated in qkeras's namespace).
WEIGHT_QUANTIZERS = [
    "quantized_bits(6,0,alpha=1)",
    "quantized_bits(4,0,alpha=None)",
    "quantized_bits(8,2,symmetric=1)",
    "quantized_bits(5,1,keep_negative=False)",
    "quantized_bits(3,0,alpha='auto_po2')",
    "quantized_bits(6,1,alpha='auto_po2')",
    "quantized_bits(12,3)",
    "quantized_bits(1,0)",
    "quantized_po2(4)",
    "quantized_po2(5,max_value=1.0)",
    "binary()",
    "binary(alpha='auto_po2')",
    "ternary()",
    "ternary(alpha='auto_po2')",
    "quantized_bits(16,6)",
]

ACTIVATION_QUANTIZERS = [
    "quantized_relu(6,0)",
    "quantized_relu(4,2)",
    "quantized_relu(8,3)",
    "quantized_relu(6,1,negative_slope=0.25)",
    "quantized_relu(6,2,relu_upper_bound=3.0,is_quantized_clip=False)",
    "quantized_bits(6,2)",
    "quantized_bits(8,3,symmetric=1)",
    "quantized_bits(5,1,keep_negative=False)",
    "quantized_bits(1,0)",
    "quantized_bits(4,1,alpha=2)",
    "quantized_po2(4)",
    "quantized_po2(5,max_value=4.0)",
    "quantized_relu_po2(4)",
    "quantized_relu_po2(5,max_value=2.0)",
    "binary()",
    "binary(use_01=True)",
    "ternary()",
    "ternary(threshold=0.5)",
    "quantized_tanh(4)",
    "quantized_tanh(6,symmetric=True,use_real_tanh=True)",
    "quantized_sigmoid(5)",
    "quantized_hswish(6,2)",
]

INPUT_FORMATS = ["fixed<8,3>", "fixed<10,4>", "ufixed<6,2>", "fixed<12,5>", "fixed<16,6>"]


def quantizer(text: str):
    """A fresh quantizer object from its constructor call (QKeras's own string parser
    mangles keyword values such as alpha='auto_po2')."""
    import qkeras.quantizers
    return eval(text, vars(qkeras.quantizers))  # noqa: S307 - test-owned literals


def random_model(seed: int):
    """A seeded random QKeras model and the input format it expects.

    Returns (model, input_format string, description). Quantizers cycle through the
    lists above so every entry is used across consecutive seeds.
    """
    import tensorflow as tf
    from qkeras import QActivation, QBatchNormalization, QDense
    rng = np.random.default_rng(seed)
    # Draws added later come from their own generator, so earlier seeds keep their models.
    more = np.random.default_rng(seed + 1_000_003)
    n_in = int(rng.integers(2, 12))
    depth = int(rng.integers(1, 4))
    in_fmt = INPUT_FORMATS[seed % len(INPUT_FORMATS)]
    functional = seed % 3 == 0
    layers, desc = [], [f"in {n_in} {in_fmt}"]
    for d in range(depth):
        units = int(rng.integers(1, 12))
        wq = WEIGHT_QUANTIZERS[(seed * 3 + d) % len(WEIGHT_QUANTIZERS)]
        bq = WEIGHT_QUANTIZERS[(seed * 5 + d + 1) % len(WEIGHT_QUANTIZERS)]
        aq = ACTIVATION_QUANTIZERS[(seed * 2 + d) % len(ACTIVATION_QUANTIZERS)]
        use_bias = bool(rng.integers(0, 4))
        inline = bool(rng.integers(0, 2))
        layers.append(QDense(units, kernel_quantizer=quantizer(wq),
                             bias_quantizer=quantizer(bq) if use_bias else None,
                             use_bias=use_bias, name=f"dense{d}",
                             activation=quantizer(aq) if inline else None))
        desc.append(f"QDense({units}, {wq}, {bq if use_bias else 'no bias'})")
        if rng.integers(0, 4) == 0:
            layers.append(QBatchNormalization(name=f"bn{d}") if rng.integers(0, 2)
                          else tf.keras.layers.BatchNormalization(name=f"bn{d}"))
            desc.append("BN")
            if inline:   # a BN must be followed by a quantizer to stay exact
                layers.append(QActivation(quantizer(aq), name=f"act{d}b"))
        if not inline:
            # Published models often store the quantizer as a string, which QActivation
            # parses itself (only plain positional arguments survive its parser).
            as_text = "=" not in aq and more.integers(0, 3) == 0
            layers.append(QActivation(aq if as_text else quantizer(aq), name=f"act{d}"))
            if as_text:
                desc[-1] += " (as a string)"
        desc.append(aq)
        if rng.integers(0, 4) == 0:
            layers.append(tf.keras.layers.Dropout(0.2, name=f"drop{d}"))
    last = QDense(int(rng.integers(1, 6)), kernel_quantizer=quantizer(
        WEIGHT_QUANTIZERS[seed % len(WEIGHT_QUANTIZERS)]),
        bias_quantizer=quantizer("quantized_bits(8,3)"), name="logits")
    layers.append(last)
    if seed % 2:
        layers.append(tf.keras.layers.Activation("softmax", name="softmax"))
    in_shape = (n_in,)
    if more.integers(0, 4) == 0 and n_in % 2 == 0:     # a rank-2 input and a Flatten
        in_shape = (2, n_in // 2)
        layers.insert(0, tf.keras.layers.Flatten(name="flatten"))
        desc.append(f"Flatten from {in_shape}")
    elif more.integers(0, 4) == 0:                     # a Reshape to the same vector
        layers.insert(0, tf.keras.layers.Reshape((n_in,), name="reshape"))
        desc.append("Reshape")
    if functional:
        x = inp = tf.keras.Input(in_shape, name="features")
        for layer in layers:
            x = layer(x)
        model = tf.keras.Model(inp, x, name=f"random{seed}")
    else:
        model = tf.keras.Sequential([tf.keras.layers.InputLayer(in_shape, name="features")]
                                    + layers, name=f"random{seed}")
    _randomise(model, rng)
    return model, in_fmt, "; ".join(desc)


def _randomise(model, rng) -> None:
    """Random weights (some pruned to zero) and batch-norm statistics."""
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        name = type(layer).__name__
        if name in ("QConv2DBatchnorm", "QDepthwiseConv2DBatchnorm"):
            layer.set_weights([_folded_batchnorm_weight(v, w, rng)
                               for v, w in zip(layer.weights, weights)])
            continue
        if "BatchNormalization" in name:
            c = weights[0].shape[0]
            gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c)
            new = [gamma, rng.normal(0, 0.5, c), rng.normal(0, 1, c), rng.uniform(0.2, 3, c)]
            layer.set_weights([w.astype(np.float32) for w in new[:len(weights)]])
            continue
        new = []
        for w in weights:
            v = rng.normal(0, 0.6, w.shape)
            v[rng.random(w.shape) < 0.3] = 0.0      # pruned weights
            new.append(v.astype(np.float32))
        layer.set_weights(new)


def _folded_batchnorm_weight(var, w, rng) -> np.ndarray:
    """One weight of a batch-norm-folding layer: its statistics as a batch norm's."""
    role = var.name.split("/")[-1].split(":")[0]
    if role == "moving_variance":
        v = rng.uniform(0.2, 3, w.shape)
    elif role == "gamma":
        v = rng.uniform(0.5, 2.0, w.shape) * rng.choice([-1, 1], w.shape)
    elif role == "iteration":
        v = np.zeros(w.shape)
    else:
        v = rng.normal(0, 0.6, w.shape)
    return v.astype(w.dtype)


MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


def random_branchy_model(seed: int):
    """A seeded random functional QKeras model with branches: skip connections (the
    quantized input among them), every Keras merge layer over the seeds (`MERGES`, each
    with or without a quantizer after it), and one or two heads (a softmax on some).

    Returns (model, input format string, description)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    rng = np.random.default_rng(seed)
    L = tf.keras.layers
    in_fmt = INPUT_FORMATS[seed % len(INPUT_FORMATS)]
    width = int(rng.integers(2, 7))
    inp = tf.keras.Input((width,), name="features")
    desc = [f"in {width} {in_fmt}"]
    x = inp
    if rng.integers(0, 2):           # an input quantizer: its output is a skip source too
        x = QActivation(quantizer("quantized_bits(8,3)"), name="in_q")(inp)
        desc.append("input quantizer")
    pool = [x]                        # tensors of `width` elements that later layers read
    count = 0

    def dense(src, units, act=True):
        nonlocal count
        count += 1
        wq = WEIGHT_QUANTIZERS[(seed + count) % 8]      # the narrow ones: sums stay < 2**24
        y = QDense(units, kernel_quantizer=quantizer(wq),
                   bias_quantizer=quantizer("quantized_bits(6,2)"), name=f"dense{count}")(src)
        if act:
            aq = ACTIVATION_QUANTIZERS[(seed * 3 + count) % len(ACTIVATION_QUANTIZERS)]
            y = QActivation(quantizer(aq), name=f"act{count}")(y)
            desc.append(f"QDense({units}) {aq}")
        return y

    for k in range(int(rng.integers(2, 5))):
        merge = MERGES[(seed + k) % len(MERGES)]
        n = 4 if merge == "Average" and rng.integers(0, 3) == 0 else \
            2 if merge in ("Subtract", "Average") else int(rng.integers(2, 4))
        # Each operand: a tensor of the pool (a skip) or a new dense branch off one.
        operands = []
        for _ in range(n):
            src = pool[int(rng.integers(0, len(pool)))]
            operands.append(src if rng.integers(0, 3) == 0 else dense(src, width))
        y = getattr(L, merge)(name=f"{merge.lower()}{k}")(operands)
        desc.append(f"{merge} of {n}")
        if merge == "Concatenate":
            y = dense(y, width)                      # back to the pool's width
        elif rng.integers(0, 2):
            y = QActivation(quantizer("quantized_bits(10,4)"), name=f"mq{k}")(y)
            desc.append("quantizer after it")
        pool.append(y)
    outputs = [dense(pool[-1], int(rng.integers(1, 5)), act=False)]
    if rng.integers(0, 2):
        outputs.append(dense(pool[int(rng.integers(0, len(pool) - 1))],
                             int(rng.integers(1, 4)), act=False))
        desc.append("two heads")
    if rng.integers(0, 3) == 0:
        outputs[0] = L.Activation("softmax", name="softmax")(outputs[0])
        desc.append("softmax")
    model = tf.keras.Model(inp, outputs if len(outputs) > 1 else outputs[0],
                           name=f"branchy{seed}")
    _randomise(model, rng)
    return model, in_fmt, "; ".join(desc)


def random_peer_mlp(seed: int):
    """A seeded random QKeras MLP of the kind da4ml and alkaid build (QDense,
    quantized_relu or quantized_bits activations, pruned weights, an optional softmax),
    sized like the jet tagger or smaller: the unseen models `make bench-peers` compares
    the generators on. Returns (model, input format, description)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    rng = np.random.default_rng([seed, 0x9EE5])
    n_in = int(rng.choice([8, 12, 16, 24, 32]))
    w_in = int(rng.integers(8, 17))
    in_fmt = f"fixed<{w_in},{int(rng.integers(2, 7))}>"
    sparsity = float(rng.choice([0.0, 0.25, 0.5, 0.75, 0.9]))
    desc = [f"in {n_in} {in_fmt}", f"{sparsity:.0%} pruned"]
    x = inp = tf.keras.Input((n_in,), name="features")
    depth = int(rng.integers(2, 5))
    for d in range(depth):
        last = d == depth - 1
        units = int(rng.integers(2, 11)) if last else int(rng.choice([8, 16, 24, 32, 48, 64]))
        bits = int(rng.integers(3, 9))
        wq = f"quantized_bits({bits},{int(rng.integers(0, 2))},alpha=1)"
        bq = f"quantized_bits({bits + 4},{int(rng.integers(1, 4))},alpha=1)"
        x = QDense(units, kernel_quantizer=quantizer(wq), bias_quantizer=quantizer(bq),
                   name=f"dense{d}")(x)
        desc.append(f"QDense({units}, {wq})")
        if last:
            break
        a_bits = int(rng.integers(4, 11))
        aq = (f"quantized_relu({a_bits},{int(rng.integers(0, 4))})" if rng.integers(0, 4)
              else f"quantized_bits({a_bits},{int(rng.integers(1, 4))})")
        x = QActivation(quantizer(aq), name=f"act{d}")(x)
        desc.append(aq)
    if rng.integers(0, 2):
        x = tf.keras.layers.Activation("softmax", name="softmax")(x)
        desc.append("softmax")
    model = tf.keras.Model(inp, x, name=f"peer_mlp{seed}")
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            new = [rng.normal(0, 0.5, w.shape) * (rng.random(w.shape) >= sparsity)
                   for w in weights]
            layer.set_weights([w.astype(np.float32) for w in new])
    return model, in_fmt, "; ".join(desc)
