"""Seeded random QKeras CNNs, 1-D and 2-D: every convolution, pooling and spatial layer
with their options (strides, dilation, 'same', 'valid' and 'causal' padding, depthwise,
separable, grouped, bias or not, inline activations), batch norms (separate, and folded
into QConv2DBatchnorm and QDepthwiseConv2DBatchnorm) and quantizers between them, a Flatten or a global pool, then a dense head."""
from __future__ import annotations

import numpy as np

from .model_factory import ACTIVATION_QUANTIZERS, WEIGHT_QUANTIZERS, _randomise, quantizer

BLOCKS_2D = ["conv", "maxpool", "depthwise", "avgpool", "separable", "zeropad", "conv_bn",
             "qavgpool", "crop", "upsample", "grouped", "conv"]
BLOCKS_1D = ["conv", "maxpool", "separable", "avgpool", "zeropad", "conv_bn", "crop",
             "upsample", "causal", "depthwise", "conv"]
# Activation quantizers that keep a CNN's values small (no tanh tables of every code).
ACTS = [q for q in ACTIVATION_QUANTIZERS if "tanh" not in q and "sigmoid" not in q]


def random_conv_model(seed: int):
    """(model, input format, description) of a seeded random CNN."""
    import tensorflow as tf
    from qkeras import (QActivation, QAveragePooling2D, QBatchNormalization, QConv1D,
                        QConv2D, QConv2DBatchnorm, QDense, QDepthwiseConv2D,
                        QDepthwiseConv2DBatchnorm, QSeparableConv1D, QSeparableConv2D,
                        QGlobalAveragePooling2D)
    L = tf.keras.layers
    rng = np.random.default_rng(seed)
    two_d = seed % 2 == 0
    blocks = BLOCKS_2D if two_d else BLOCKS_1D
    if two_d:
        shape = (int(rng.integers(5, 9)), int(rng.integers(5, 9)), int(rng.integers(1, 4)))
    else:
        shape = (int(rng.integers(8, 17)), int(rng.integers(1, 4)))
    in_fmt = ["fixed<6,3>", "ufixed<5,2>", "fixed<8,4>"][seed % 3]
    desc = [f"in {shape} {in_fmt}"]
    inp = tf.keras.Input(shape, name="image")
    x = inp

    def wq():
        return quantizer(WEIGHT_QUANTIZERS[int(rng.integers(0, 8))])

    def act():
        return ACTS[int(rng.integers(0, len(ACTS)))]

    def pick(opts):
        return opts[int(rng.integers(0, len(opts)))]

    def spatial():
        return list(x.shape[1:-1])

    n_blocks = int(rng.integers(2, 5))
    for i in range(n_blocks):
        kind = blocks[(seed // 2 + i * 5) % len(blocks)]
        size = min(spatial())
        ks = 1 if size < 3 else int(rng.integers(1, 4))
        kernel = (ks, int(rng.integers(1, 4)) if size >= 3 else 1) if two_d else ks
        stride = int(rng.integers(1, 3)) if size >= 4 else 1
        strides = (stride, stride) if two_d else stride
        padding = pick(["valid", "same"]) if size >= 3 else "same"
        name = f"{kind}{i}"
        inline = act() if rng.integers(0, 2) else None
        use_bias = bool(rng.integers(0, 3))
        bias_q = quantizer("quantized_bits(6,2)") if use_bias else None
        filters = int(rng.integers(1, 5))
        if kind in ("conv", "conv_bn", "causal", "grouped"):
            dil = 2 if stride == 1 and size >= 6 and rng.integers(0, 3) == 0 else 1
            cls = QConv2D if two_d else QConv1D
            extra = {}
            if kind == "causal":
                padding = "causal"
            if kind == "grouped":
                if x.shape[-1] % 2:          # two groups need an even channel count
                    x = cls(2, 1, kernel_quantizer=wq(), name=f"widen{i}")(x)
                    x = QActivation(quantizer("quantized_bits(6,2)"), name=f"wq{i}")(x)
                extra["groups"] = 2
                filters = 2 * int(rng.integers(1, 3))
            # Every other 2-D conv_bn block is QKeras's batch-norm-folding layer instead
            # (its batch norm inside; its folded bias quantized).
            folded = kind == "conv_bn" and two_d and (seed + i) % 2 == 1
            if folded:
                cls = QConv2DBatchnorm
                bias_q = quantizer("quantized_bits(8,3)")
            layer = cls(filters, kernel, strides=strides, padding=padding,
                        dilation_rate=(dil, dil) if two_d else dil, use_bias=use_bias,
                        kernel_quantizer=wq(), bias_quantizer=bias_q,
                        activation=None if kind == "conv_bn" and not folded else inline,
                        name=name, **extra)
            x = layer(x)
            desc.append(f"{cls.__name__}({filters}, {kernel}, strides {strides}, {padding}, "
                        f"dilation {dil}, {'bias' if use_bias else 'no bias'}"
                        f"{', groups 2' if extra else ''}, act {inline if kind != 'conv_bn' or folded else None})")
            if folded:
                if inline is None:
                    a = act()
                    x = QActivation(quantizer(a), name=f"q{i}")(x)
                    desc.append(a)
            elif kind == "conv_bn":
                x = (QBatchNormalization if rng.integers(0, 2) else L.BatchNormalization)(
                    name=f"bn{i}")(x)
                a = act()
                x = QActivation(quantizer(a), name=f"bnq{i}")(x)
                desc.append(f"BN + {a}")
            elif inline is None:
                a = act()
                x = QActivation(quantizer(a), name=f"q{i}")(x)
                desc.append(a)
        elif kind == "depthwise" and two_d:
            # Every other one is QKeras's batch-norm-folding depthwise layer.
            folded = (seed + i) % 2 == 0
            cls = QDepthwiseConv2DBatchnorm if folded else QDepthwiseConv2D
            x = cls(kernel, strides=strides, padding=padding,
                    depth_multiplier=int(rng.integers(1, 3)), use_bias=use_bias,
                    depthwise_quantizer=wq(),
                    bias_quantizer=quantizer("quantized_bits(8,3)") if folded else bias_q,
                    name=name)(x)
            a = act()
            x = QActivation(quantizer(a), name=f"q{i}")(x)
            desc.append(f"{cls.__name__}({kernel}, {strides}, {padding}) + {a}")
        elif kind == "depthwise":
            x = L.DepthwiseConv1D(kernel, strides=strides, padding=padding, name=name)(x)
            a = act()
            x = QActivation(quantizer(a), name=f"q{i}")(x)
            desc.append(f"DepthwiseConv1D({kernel}, {strides}, {padding}) float + {a}")
        elif kind == "separable":
            cls = QSeparableConv2D if two_d else QSeparableConv1D
            x = cls(filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
                    depthwise_quantizer=wq(), pointwise_quantizer=wq(),
                    bias_quantizer=bias_q, name=name)(x)
            a = act()
            x = QActivation(quantizer(a), name=f"q{i}")(x)
            desc.append(f"{cls.__name__}({filters}, {kernel}, {strides}, {padding}) + {a}")
        elif kind == "maxpool":
            pool = 2 if size >= 2 else 1
            cls = L.MaxPooling2D if two_d else L.MaxPooling1D
            x = cls(pool, strides=int(rng.integers(1, pool + 1)), padding=padding if size >= 3 else "same",
                    name=name)(x)
            desc.append(f"{cls.__name__}({pool}, {padding})")
        elif kind in ("avgpool", "qavgpool"):
            pool = int(rng.integers(2, 4)) if size >= 3 else 1
            pad = padding if size >= 3 else "same"
            if kind == "qavgpool":
                x = QAveragePooling2D(pool, strides=1, padding=pad,
                                      average_quantizer=quantizer("quantized_bits(8,0)"),
                                      name=name)(x)
            else:
                cls = L.AveragePooling2D if two_d else L.AveragePooling1D
                x = cls(pool, strides=int(rng.integers(1, pool + 1)), padding=pad,
                        name=name)(x)
            a = pick(["quantized_bits(8,3)", "quantized_bits(6,2)", "quantized_relu(6,2)"])
            x = QActivation(quantizer(a), name=f"q{i}")(x)
            desc.append(f"{kind}({pool}, {pad}) + {a}")
        elif kind == "zeropad":
            x = (L.ZeroPadding2D(((1, 0), (2, 1))) if two_d else L.ZeroPadding1D((2, 1)))(x)
            desc.append("ZeroPadding")
        elif kind == "crop":
            if size >= 4:
                x = (L.Cropping2D(((1, 0), (0, 1))) if two_d else L.Cropping1D((1, 2)))(x)
                desc.append("Cropping")
        elif kind == "upsample":
            if size <= 6:
                x = (L.UpSampling2D((2, 1)) if two_d else L.UpSampling1D(2))(x)
                desc.append("UpSampling")
    end = ["flatten", "gap", "gmp", "qgap"][(seed // 2) % (4 if two_d else 3)]
    if end == "flatten":
        x = L.Flatten(name="flatten")(x)
    elif end == "gmp":
        x = (L.GlobalMaxPooling2D if two_d else L.GlobalMaxPooling1D)(name="gmp")(x)
    else:
        if end == "qgap":
            x = QGlobalAveragePooling2D(average_quantizer=quantizer("quantized_bits(8,0)"),
                                        name="gap")(x)
        else:
            x = (L.GlobalAveragePooling2D if two_d else L.GlobalAveragePooling1D)(name="gap")(x)
        x = QActivation(quantizer("quantized_bits(8,3)"), name="gapq")(x)
    desc.append(end)
    x = QDense(int(rng.integers(2, 6)), kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=quantizer("quantized_bits(8,3)"), name="logits")(x)
    model = tf.keras.Model(inp, x, name=f"cnn{seed}")
    _randomise(model, rng)
    return model, in_fmt, "; ".join(desc)


def small_cnn_graph(size: int = 6, channels: int = 2, filters: int = 3):
    """The IR of a `size` x `size` x `channels` image through a 3x3 convolution of
    `filters` and a dense head: a small streaming design for the board tops."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions

    inp = tf.keras.Input((size, size, channels), name="image")
    x = QConv2D(filters, 3, kernel_quantizer=quantizer("quantized_bits(4,0)"),
                bias_quantizer=quantizer("quantized_bits(4,0)"), name="c")(inp)
    x = QActivation(quantizer("quantized_relu(4,2)"), name="r")(x)
    x = tf.keras.layers.Flatten(name="f")(x)
    x = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,0)"),
               bias_quantizer=quantizer("quantized_bits(4,0)"), name="d")(x)
    model = tf.keras.Model(inp, x, name="smallcnn")
    model.set_weights([np.random.default_rng(1).normal(0, 0.5, w.shape) for w in
                       model.get_weights()])
    return to_ir(load(model), FrontendOptions.from_strings("fixed<6,2>"))


def strided_cnn_graph(size: int = 10):
    """The IR of a `size` x `size` image through conv (valid) -> max pool -> conv ('same')
    -> conv (stride 2) -> dense, the input grid from a symmetric input quantizer: late
    layers with many cycles per output, which rate-matched folding folds."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    from hwgen.frontends.loader import load
    from hwgen.frontends.qkeras import to_ir
    from hwgen.options import FrontendOptions

    L = tf.keras.layers
    w = dict(kernel_quantizer=quantizer("quantized_bits(6,0,alpha=1)"),
             bias_quantizer=quantizer("quantized_bits(6,0,alpha=1)"))
    inp = tf.keras.Input((size, size, 1), name="image")
    x = QActivation(quantizer("quantized_bits(8,0,1)"), name="in_q")(inp)
    x = QConv2D(4, 3, name="c1", **w)(x)
    x = QActivation(quantizer("quantized_relu(6,2)"), name="a1")(x)
    x = L.MaxPooling2D(2, name="p1")(x)
    x = QConv2D(4, 3, padding="same", name="c2", **w)(x)
    x = QActivation(quantizer("quantized_relu(6,2)"), name="a2")(x)
    x = QConv2D(4, 3, strides=2, activation=quantizer("quantized_relu(6,2)"), name="c3", **w)(x)
    x = L.Flatten(name="flat")(x)
    x = QDense(3, name="out", **w)(x)
    model = tf.keras.Model(inp, x, name="strided")
    model.set_weights([np.random.default_rng(0).normal(0, 0.5, v.shape) for v in
                       model.get_weights()])
    return to_ir(load(model), FrontendOptions())
