"""The zoo's data sets, made from code and offline (scikit-learn's bundled digits, seeded
synthetic data): what `scripts/train_designs.py` trains each design on, and what
`hwgen sweep` fine-tunes and scores a design with when no `--data` is given.

`splits(name)` gives (x_train, y_train, x_test, y_test) as floats in the model's input
shape; the test split is the one the design's `test_inputs.npy` holds as codes.
"""
from __future__ import annotations

import numpy as np

from .errors import HwgenError

SEED = 1234                 # scripts/train_designs.py's seed
WAVEFORMS = ("sine", "square", "triangle", "sawtooth")


def jet_data(seed: int = SEED):
    """Synthetic stand-in for the jet-substructure data set (which is not offline):
    16 standardised features, 5 classes, each class a mixture of two Gaussians with its
    own correlations, so the classes overlap the way real jet classes do."""
    rng = np.random.default_rng(seed)
    n_per, xs, ys = 4000, [], []
    for cls in range(5):
        for _ in range(2):
            mean = rng.normal(0, 0.9, 16)
            mix = rng.normal(0, 0.5, (16, 16)) + np.eye(16)
            xs.append(rng.normal(size=(n_per // 2, 16)) @ mix.T * 0.6 + mean)
            ys.append(np.full(n_per // 2, cls))
    x, y = np.concatenate(xs), np.concatenate(ys)
    x = (x - x.mean(0)) / x.std(0)
    order = rng.permutation(len(x))
    return x[order].astype(np.float32), y[order]


def digits_data(seed: int = SEED):
    """scikit-learn's 8x8 digits, 80/20 stratified: (x_train, x_test, y_train, y_test),
    pixels 0..16 (not yet scaled)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    return train_test_split(d.data, d.target, test_size=0.2, random_state=seed,
                            stratify=d.target)


def waveform_data(seed: int = SEED, n: int = 4000, length: int = 32):
    """A synthetic sensor task: 32 samples of a periodic signal with random period (5 to
    16 samples), phase, amplitude (0.4 to 0.9), offset and noise; the class is its
    waveform (`WAVEFORMS`). Samples lie in [-1, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(WAVEFORMS), n)
    period = rng.uniform(5, 16, n)[:, None]
    phase = rng.uniform(0, 1, n)[:, None]
    t = (np.arange(length)[None, :] / period + phase) % 1.0
    shapes = {0: np.sin(2 * np.pi * t), 1: np.where(t < 0.5, 1.0, -1.0),
              2: 4 * np.abs(t - 0.5) - 1, 3: 2 * t - 1}
    x = np.select([y[:, None] == k for k in range(4)], [shapes[k] for k in range(4)])
    x = x * rng.uniform(0.4, 0.9, (n, 1)) + rng.uniform(-0.1, 0.1, (n, 1))
    x = x + rng.normal(0, 0.05, x.shape)
    return np.clip(x, -1, 31 / 32).astype(np.float32)[:, :, None], y


def splits(name: str):
    """(x_train, y_train, x_test, y_test) of zoo design `name`, as its model takes them."""
    if name == "jet_tagger":
        x, y = jet_data()
        split = int(0.8 * len(x))
        x_test = np.clip(np.rint(x[split:split + 2000] * 2**10), -2**15, 2**15 - 1) / 2**10
        return x[:split], y[:split], x_test, y[split:split + 2000]
    if name in ("digits_mlp", "digits_mlp_pruned", "digits_resmlp", "digits_cnn"):
        x_tr, x_te, y_tr, y_te = digits_data()
        if name == "digits_cnn":
            return (x_tr / 16).reshape(-1, 8, 8, 1), y_tr, (x_te / 16).reshape(-1, 8, 8, 1), y_te
        return x_tr / 16, y_tr, x_te / 16, y_te
    if name == "waveform_cnn1d":
        x, y = waveform_data()
        x = np.clip(np.round(x * 32), -32, 31) / 32                  # on fixed<6,1>
        return x[:3200], y[:3200], x[3200:], y[3200:]
    raise HwgenError(f"design '{name}' has no data set of its own; give --data DATA.npz "
                     "with x_train, y_train, x_test and y_test")
