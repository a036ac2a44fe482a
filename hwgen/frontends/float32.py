"""Running Keras and QKeras code in a chosen float type: `keras_floatx`, and the wrapper
that runs an activation quantizer in float32 as the deployed model does. Shared by the
twin and the quantizer semantics (its own module, so that neither imports the other)."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def keras_floatx(dtype: str):
    """Run Keras code with `floatx` set to `dtype` (QKeras casts to floatx at call time)."""
    import tensorflow as tf
    old = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx(dtype)
    try:
        yield
    finally:
        tf.keras.backend.set_floatx(old)


class Float32Quantizer:
    """Runs a QKeras activation quantizer in float32 on the float32 rounding of its input
    (what the deployed float32 model does) and hands the result back in the input dtype."""

    def __init__(self, quantizer):
        self.quantizer = quantizer

    def get_config(self):   # lets Keras describe the twin (get_config) with the wrapper in
        return self.quantizer.get_config()

    def __call__(self, x):
        import tensorflow as tf
        with keras_floatx("float32"):
            y = self.quantizer(tf.cast(x, tf.float32))
        return tf.cast(y, x.dtype)
