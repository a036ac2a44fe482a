"""The co-simulation's vectors, identical in both bench modes for a given seed.

First a fixed set, stored in a ROM in batch mode: one vector per corner code (min, max,
zero, +/-1 LSB on every element), the design's own test data, vectors mixing corner codes.
Then uniformly random codes over the whole input range, drawn from a counter-based hash
(`lowbias32`) that the batch harness computes in hardware and numpy reproduces for all
vectors at once, so random vectors cost Python nothing per vector.
"""
from __future__ import annotations

import numpy as np

from ..ir.types import FixedType
from .codec import bits_of_words, field
from .vectors import corner_codes

ROM_LIMIT = 4096          # fixed vectors at most (the ROM's depth)
# A streaming core's harness keeps its fixed vectors as pixels: at most this many (an
# image-sized vector in one ROM word made a 32x32x3 8-bit CNN's harness a 100-Mbit memory
# and 768 hash units, which Amaranth and Verilator did not finish converting).
ROM_PIXELS = 1 << 16
MASK = 0xFFFFFFFF


def rom_vectors(manifest: dict) -> int:
    """How many fixed (or given) vectors the batch harness of this design holds."""
    from .codec import words_per_vector
    return max(1, min(ROM_LIMIT, ROM_PIXELS // words_per_vector(manifest)))


def lowbias32(x):
    """Chris Wellons' lowbias32 integer hash on uint32 (numpy arrays or ints)."""
    m = np.uint64(MASK)
    x = np.asarray(x, dtype=np.uint64) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return x.astype(np.uint32)


def key(seed: int) -> int:
    return int(lowbias32((seed & MASK) ^ 0x9E3779B9))


def fixed_codes(t: FixedType, size: int, n: int, seed: int,
                extra: np.ndarray | None, limit: int = ROM_LIMIT) -> np.ndarray:
    """The fixed vectors [R, size]: corners, design data, corner mixes (R <= `limit`, the
    harness's `rom_vectors`)."""
    rows = [np.full(size, c, dtype=np.int64) for c in corner_codes(t)]
    if extra is not None and len(extra):
        rows.extend(np.asarray(extra, dtype=np.int64).reshape(len(extra), size))
    rng = np.random.default_rng(seed)
    corners = np.asarray(corner_codes(t), dtype=np.int64)
    n_mix = max(min(n, limit) - len(rows), 0) // 10
    rows.extend(corners[rng.integers(0, len(corners), size=(n_mix, size))])
    return np.stack(rows)[:min(n, limit)]


def random_codes(elements: list[dict], n: int, seed: int) -> np.ndarray:
    """Random vectors j = 0..n-1: in_data word g of vector j is
    lowbias32(j * G + g + key(seed)), G = 32-bit words per vector."""
    in_bits = elements[-1]["lsb"] + elements[-1]["width"]
    g = (in_bits + 31) // 32
    idx = (np.arange(n, dtype=np.uint64)[:, None] * g + np.arange(g, dtype=np.uint64)
           + np.uint64(key(seed)))
    bits = bits_of_words(lowbias32(idx), in_bits)
    return np.stack([field(bits, e["lsb"], e["width"], e["signed"]) for e in elements], axis=1)


def all_codes(manifest: dict, n: int, seed: int, extra: np.ndarray | None = None):
    """(all n vectors as codes [n, size], number of fixed vectors R)."""
    port = manifest["input"]
    e0 = port["elements"][0]
    t = FixedType(e0["signed"], e0["width"], e0["width"] - e0["frac"])
    fixed = fixed_codes(t, len(port["elements"]), n, seed, extra, rom_vectors(manifest))
    rand = random_codes(port["elements"], n - len(fixed), seed)
    return np.concatenate([fixed, rand.reshape(-1, fixed.shape[1])]), len(fixed)
