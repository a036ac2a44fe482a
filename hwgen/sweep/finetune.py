"""Prune a model to a sparsity with tensorflow-model-optimization and fine-tune it,
quantization-aware (QKeras's quantizers stay in the graph), from its own weights."""
from __future__ import annotations

import numpy as np


def ends_in_softmax(model) -> bool:
    layer = model.layers[-1]
    act = getattr(getattr(layer, "activation", None), "__name__", "")
    return type(layer).__name__ == "Softmax" or act == "softmax"


def prune_and_finetune(model, sparsity: float, epochs: int, x, y, seed: int = 0,
                       batch_size: int = 64, learning_rate: float = 1e-3):
    """The model pruned to `sparsity` (low-magnitude, constant: every prunable kernel)
    and trained `epochs` more epochs on (x, y) with integer class labels; with 0 epochs,
    pruned in one step without a weight update. Pruning wrappers are stripped."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    tf.keras.utils.set_random_seed(seed)
    steps = max(1, int(np.ceil(len(x) / batch_size)))
    callbacks = []
    if sparsity > 0:
        schedule = tfmot.sparsity.keras.ConstantSparsity(
            sparsity, begin_step=0, frequency=max(1, steps // 4))
        model = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    if epochs > 0 or sparsity > 0:
        loss = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=not ends_in_softmax(model))
        rate = learning_rate if epochs > 0 else 0.0       # 0 epochs: the masks only
        model.compile(optimizer=tf.keras.optimizers.Adam(rate), loss=loss)
        model.fit(x, y, epochs=max(epochs, 1), batch_size=batch_size, verbose=0,
                  steps_per_epoch=None if epochs > 0 else 1, callbacks=callbacks)
    if sparsity > 0:
        model = tfmot.sparsity.keras.strip_pruning(model)
    return model


def kernel_sparsity(model) -> float:
    """The share of zero weights over every kernel of the model."""
    total = zeros = 0
    for layer in model.layers:
        for var in layer.weights:
            if "kernel" in var.name:
                w = np.asarray(var)
                total += w.size
                zeros += int(np.sum(w == 0))
    return zeros / total if total else 0.0
