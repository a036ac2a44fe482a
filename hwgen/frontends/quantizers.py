"""QKeras quantizer semantics: the one place they live.

Two kinds of quantizer reach the IR:
- linear round-and-clip quantizers (`quantized_bits` with alpha 1/None, `quantized_relu`
  without slope or sigmoid) become a `Quantize` op whose integer semantics equal
  QKeras's float arithmetic (tf.round is round-half-even; the input is first rounded to
  float32, as QKeras quantizers compute in float32, and so does the op);
- every other supported quantizer is piecewise constant and becomes a `StepFunction`
  whose thresholds are found by evaluating the QKeras quantizer itself (in float64, on
  exact fixed-point inputs): at every input code where the input has up to 16 bits or
  the function is not monotonic (quantized_hswish dips below zero; up to 22 bits), else
  bisecting between the levels of a monotonic one. The
  reference therefore matches QKeras by construction, including its float quirks (e.g.
  `quantized_po2` adds K.epsilon() before log2 and never outputs 0).

Weights are quantized by the layer's own quantizers when the float64 twin is built
(`twin.quantized_weights`).
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError, layer_error
from ..ir.types import FixedType, Overflow, codes_to_float, float_to_codes, needed_frac

SUPPORTED = ("quantized_bits, quantized_relu, quantized_po2, quantized_relu_po2, "
             "binary, ternary, quantized_tanh, quantized_sigmoid, quantized_ulaw, "
             "quantized_hswish")
_SUPPORTED_NAMES = {n.strip() for n in SUPPORTED.split(",")}
MAX_STEP_LEVELS = 4096     # a step function with more levels is not sensible hardware
FULL_DOMAIN_CODES = 1 << 16   # a step function's input of at most this many codes is
                              # evaluated at every code (any shape); wider, it is sampled
MAX_TABULATED_CODES = 1 << 22  # a non-monotonic one is evaluated at up to this many
MAX_FRAC = 48              # finer grids come from non-power-of-two scales


# Quantizers that are not monotonic: their step functions are evaluated at every code.
NOT_MONOTONIC = {"quantized_hswish"}     # x * relu6(x + 3) / 6 dips below zero


def monotonic(q) -> bool | None:
    """False for a quantizer known not to be monotonic, else None (found on samples)."""
    return False if type(q).__name__ in NOT_MONOTONIC else None


def name_of(q) -> str:
    return getattr(q, "__name__", None) or type(q).__name__


def describe(q) -> str:
    if not type(q).__module__.startswith("qkeras"):
        return name_of(q)         # a Keras function, or a user's own class: its name
    try:
        return str(q) if not callable(q) or hasattr(q, "get_config") else name_of(q)
    except Exception:
        return name_of(q)


def check(q, layer: str, role: str, for_weights: bool) -> None:
    """Raise a clear error for quantizers and options without exact hardware."""
    name = type(q).__name__
    text = describe(q)
    if name.startswith("stochastic_") or name == "bernoulli" or \
            getattr(q, "use_stochastic_rounding", False):
        raise layer_error(layer, f"{role} {text} uses stochastic rounding, which has no "
                          f"deterministic hardware equivalent",
                          "Set use_stochastic_rounding=False (QKeras uses plain rounding "
                          "at inference anyway) and retrain if needed", UnsupportedError)
    if name not in _SUPPORTED_NAMES:
        raise layer_error(layer, f"{role} {text} is not supported",
                          f"Supported quantizers: {SUPPORTED}", UnsupportedError)
    qnoise = getattr(q, "qnoise_factor", 1.0)
    if qnoise is not None and float(np.asarray(qnoise)) != 1.0:
        raise layer_error(layer, f"{role} {text} has qnoise_factor={float(np.asarray(qnoise))}, "
                          f"which mixes float and quantized values",
                          "Set qnoise_factor=1.0 (the value at the end of training)",
                          UnsupportedError)
    if getattr(q, "use_sigmoid", 0) and name == "quantized_relu":
        raise layer_error(layer, f"{role} {text} uses use_sigmoid",
                          "Use quantized_relu without use_sigmoid, or quantized_sigmoid",
                          UnsupportedError)
    alpha = getattr(q, "alpha", None)
    if isinstance(alpha, str):
        if alpha == "auto" and name == "quantized_bits":
            raise layer_error(layer, f"{role} {text} scales by a floating-point factor "
                              f"(alpha='auto')",
                              "Use alpha='auto_po2' (power-of-two scale) or alpha=1",
                              UnsupportedError)
        if not for_weights:
            raise layer_error(layer, f"activation {text} computes its scale from each "
                              f"batch (alpha='{alpha}'), so no fixed hardware matches it",
                              "Use alpha=1 or a fixed power-of-two alpha on activations",
                              UnsupportedError)
    if not for_weights and name == "ternary" and isinstance(getattr(q, "threshold", None), str):
        raise layer_error(layer, f"activation {text} has a batch-dependent threshold",
                          "Give ternary a numeric threshold", UnsupportedError)


def linear(q) -> tuple[FixedType, Overflow, bool] | None:
    """(format, overflow, float32 cast of the input) if `q` is a plain
    round-half-even-and-clip quantizer, else None."""
    name = type(q).__name__
    if name == "quantized_bits":
        alpha = q.alpha
        plain_alpha = alpha is None or (not isinstance(alpha, str) and
                                        np.all(np.asarray(alpha, dtype=float) == 1.0))
        keep_neg = bool(q.keep_negative)
        integer = int(np.asarray(q.integer))
        if not plain_alpha or q.bits - keep_neg <= 0:
            return None
        overflow = Overflow.SAT_SYM if (q.symmetric and keep_neg) else Overflow.SAT
        return FixedType(keep_neg, int(q.bits), integer + keep_neg), overflow, True
    if name == "quantized_relu":
        if q.use_sigmoid or q.negative_slope != 0.0 or not q.is_quantized_clip:
            return None
        integer = int(np.asarray(q.integer))
        return FixedType(False, int(q.bits), integer), Overflow.SAT, True
    return None


def call_quantizer(q, values: np.ndarray) -> np.ndarray:
    """QKeras's result of activation quantizer `q` on exact float64 values, as the twin
    computes it (in float32, on the float32 rounding of each value)."""
    import tensorflow as tf
    from .float32 import Float32Quantizer
    return np.asarray(Float32Quantizer(q)(tf.constant(values, dtype=tf.float64)),
                      dtype=np.float64)


def values_to_codes(values: np.ndarray, layer: str, what: str) -> tuple[np.ndarray, int]:
    """Exact codes of dyadic values at the fewest fraction bits that hold them all."""
    frac = needed_frac(values)
    if frac > MAX_FRAC:
        raise layer_error(layer, f"{what} gives values off any power-of-two grid "
                          f"(they need {frac} fraction bits)",
                          "Use power-of-two scales (alpha=1 or 'auto_po2')", UnsupportedError)
    return float_to_codes(values, frac), frac


def _levels_inside(per_channel, lo: int, hi: int, evaluate, channels: int):
    """(thresholds, one code inside each step) per channel, with the thresholds whose
    levels on both sides agree (when read inside the steps) dropped."""
    out_t, out_mid = [], []
    for c, t in enumerate(per_channel):
        ends = [lo] + [int(v) for v in t] + [hi + 1]
        mids = [(a + b - 1) // 2 if b - a > 2 else a for a, b in zip(ends[:-1], ends[1:])]
        probe = np.full((len(mids), channels), lo, dtype=np.int64)
        probe[:, c] = mids
        vals = evaluate(probe)[:, c]
        keep = [k for k in range(len(t)) if vals[k + 1] != vals[k]]
        out_t.append(np.array([t[k] for k in keep], dtype=np.int64))
        out_mid.append([mids[0]] + [mids[k + 1] for k in keep])
    return out_t, out_mid


def _too_wide(layer: str, what: str, in_type: FixedType, channels: int):
    raise layer_error(layer, f"{what} is not monotonic, and its input {in_type} has too "
                      f"many codes to evaluate each ({in_type.max_code - in_type.min_code + 1}"
                      f"{f' x {channels} channels' if channels > 1 else ''}, more than "
                      f"{MAX_TABULATED_CODES})", "Quantize its input to fewer bits (a "
                      "QActivation before it, or narrower weights before it)",
                      UnsupportedError)


def step_function(fn, in_type: FixedType, channels: int, layer: str, what: str,
                  monotonic: bool | None = None):
    """Tabulate a piecewise-constant `fn` over every input code of `in_type`: evaluated
    at every code where there are at most `FULL_DOMAIN_CODES`, or where `fn` is not
    monotonic (`monotonic` False: known so, e.g. quantized_hswish; None: found so on
    samples) and there are at most `MAX_TABULATED_CODES` (x channels); else sampled and
    bisected, which takes a monotonic `fn`.

    `fn` maps float64 values [n, channels] to float64 results of the same shape; each
    column is its own function. Returns (thresholds [C, K], levels [C, K+1], out_type)
    with levels as codes of out_type (see `ir.graph.StepFunction`).
    """
    if in_type.width > 53:
        raise layer_error(layer, f"{what} would see {in_type.width}-bit inputs, more than "
                          f"float64 holds exactly", "Quantize the input of this layer to "
                          "fewer bits", UnsupportedError)
    lo, hi = in_type.min_code, in_type.max_code
    frac = in_type.frac

    def evaluate(codes: np.ndarray) -> np.ndarray:      # codes [n, channels] -> values
        return fn(codes_to_float(codes, frac))

    n_codes = hi - lo + 1
    tabulable = n_codes * channels <= MAX_TABULATED_CODES
    every_code = n_codes <= FULL_DOMAIN_CODES or (monotonic is False and tabulable)
    if monotonic is False and not every_code:
        _too_wide(layer, what, in_type, channels)

    def evaluate_all():             # in chunks of 2**20 codes
        grid = np.arange(lo, hi + 1, dtype=np.int64)
        chunks = [evaluate(np.repeat(grid[k:k + (1 << 20), None], channels, axis=1))
                  for k in range(0, len(grid), 1 << 20)]
        return grid, np.concatenate(chunks)

    if every_code:                  # evaluate every code
        grid, vals = evaluate_all()
    else:
        grid = np.unique(np.linspace(lo, hi, 4097).round().astype(np.int64))
        vals = evaluate(np.repeat(grid[:, None], channels, axis=1))
    if not np.all(np.isfinite(vals)):
        raise layer_error(layer, f"{what} returns non-finite values", "Check the layer",
                          UnsupportedError)
    diffs = np.diff(vals, axis=0)
    # Every code evaluated: each step is where two neighbouring codes differ, whatever
    # the function's shape (hard swish dips below zero). Sampled: the bisection below
    # finds a step between two samples only where their values differ, which holds for
    # a monotonic function alone; one that is not is evaluated at every code instead.
    if not every_code and not np.all(np.all(diffs >= 0, axis=0) | np.all(diffs <= 0, axis=0)):
        if not tabulable:
            _too_wide(layer, what, in_type, channels)
        grid, vals = evaluate_all()
        diffs = np.diff(vals, axis=0)
    # Intervals (channel, a, b) whose ends differ hold at least one step; bisect them.
    row, ch = np.nonzero(diffs != 0)
    a, b = grid[row], grid[row + 1]
    fa, fb = vals[row, ch], vals[row + 1, ch]
    steps = [(ch[(b - a) == 1], b[(b - a) == 1])]
    wide = (b - a) > 1
    ch, a, b, fa, fb = ch[wide], a[wide], b[wide], fa[wide], fb[wide]
    while ch.size:
        mid = (a + b) // 2
        probe = np.full((ch.size, channels), lo, dtype=np.int64)
        probe[np.arange(ch.size), ch] = mid
        fm = evaluate(probe)[np.arange(ch.size), ch]
        left = fm != fa          # a step in (a, mid]
        right = fm != fb         # a step in (mid, b]
        ch = np.concatenate([ch[left], ch[right]])
        a, b = np.concatenate([a[left], mid[right]]), np.concatenate([mid[left], b[right]])
        fa = np.concatenate([fa[left], fm[right]])
        fb = np.concatenate([fm[left], fb[right]])
        done = (b - a) == 1
        steps.append((ch[done], b[done]))
        ch, a, b, fa, fb = ch[~done], a[~done], b[~done], fa[~done], fb[~done]
    step_ch = np.concatenate([s[0] for s in steps])
    step_at = np.concatenate([s[1] for s in steps])
    per_channel = [np.sort(step_at[step_ch == c]) for c in range(channels)]
    width = max((len(t) for t in per_channel), default=0)
    if width + 1 > MAX_STEP_LEVELS:
        raise layer_error(layer, f"{what} has {width + 1} output levels over {in_type}",
                          f"Use at most {MAX_STEP_LEVELS} levels (fewer bits)",
                          UnsupportedError)
    # Each level is read in the middle of its step, not at the step's first code:
    # TensorFlow's float32 log (quantized_po2's exponent) can differ by an ulp between its
    # vectorised and scalar paths, so a code next to a boundary may give either level
    # depending on where it sits in a batch. A step found there whose level then equals
    # its neighbour's is no step and is dropped (seen: quantized_relu_po2 at 2**-0.5).
    per_channel, mids = _levels_inside(per_channel, lo, hi, evaluate, channels)
    width = max((len(t) for t in per_channel), default=0)
    thresholds = np.full((channels, width), hi + 1, dtype=np.int64)
    points = np.full((channels, width + 1), lo, dtype=np.int64)
    for c, (t, mid) in enumerate(zip(per_channel, mids)):
        thresholds[c, :len(t)] = t
        points[c, :len(mid)] = mid
        points[c, len(mid):] = mid[-1]
    level_vals = evaluate(points.T).T          # levels[c, k] = fn_c(points[c, k])
    codes, out_frac = values_to_codes(level_vals, layer, what)
    out_type = FixedType.for_range(int(np.min(codes)), int(np.max(codes)), out_frac)
    if np.all(thresholds == thresholds[:1]) and np.all(codes == codes[:1]):
        thresholds, codes = thresholds[:1], codes[:1]
    return thresholds, codes, out_type
