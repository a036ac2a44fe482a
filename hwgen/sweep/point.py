"""One point of a sweep, as a Ray task runs it: requantize, prune and fine-tune, measure
accuracy with QKeras and with the bit-exact reference, then the hardware flow (build,
co-simulation, synthesis, place and route where it fits, power) and the carbon figures.

A point is a plain dict of options; its result is a plain dict, cached in
`<sweep dir>/points/<key>/result.json` by a content hash of the model, the data and the
options, so a point that is done is never redone.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from pathlib import Path

import numpy as np

# Options of a point that change its result (the key hashes them with the model and data).
POINT_FIELDS = ("bits", "sparsity", "reuse", "target", "mult", "epochs", "seed", "n",
                "rate", "grid", "input_format")


def point_key(model_digest: str, data_digest: str, point: dict) -> str:
    text = json.dumps({"model": model_digest, "data": data_digest, "hwgen": _version(),
                       **{k: point.get(k) for k in POINT_FIELDS}}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version() -> str:
    from importlib.metadata import version
    return version("hwgen")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_point(model_path: str, data_path: str, point: dict, folder: str) -> dict:
    """Run one point into `folder`; never raises: a failure is a result with `status`
    "failed" and its `reason`."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ray runs points side by side, one per core, and forking inside its worker is not
    # safe: the RTL's layers are converted in this process (`layer_modules`).
    os.environ["HWGEN_RTL_JOBS"] = "1"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seconds: dict = {}
    result = {"point": point, "status": "ok", "seconds": seconds}
    try:
        _run(Path(model_path), Path(data_path), point, folder, result, seconds)
    except Exception as exc:                  # a point's failure never stops the sweep
        from ..errors import HwgenError
        result["status"] = "failed"
        result["reason"] = str(exc) if isinstance(exc, HwgenError) else \
            f"{type(exc).__name__}: {exc}"
        (folder / "traceback.txt").write_text(traceback.format_exc())
    from ..outputs import save_json
    save_json(folder / "result.json", result)
    return result


def _timed(seconds: dict, name: str, t0: float) -> float:
    seconds[name] = round(time.perf_counter() - t0, 2)
    return time.perf_counter()


def _run(model_path: Path, data_path: Path, point: dict, folder: Path, result: dict,
         seconds: dict) -> None:
    import hwgen
    from ..ir.types import codes_to_float
    from ..verify import logits_model
    from .finetune import kernel_sparsity, prune_and_finetune
    from .requantize import requantize
    t = time.perf_counter()
    model = hwgen.load_model(str(model_path)).model
    data = np.load(data_path)
    x_train, y_train = data["x_train"], data["y_train"].astype(np.int64).ravel()
    x_test, y_test = data["x_test"], data["y_test"].astype(np.int64).ravel()
    model, changes = requantize(model, int(point["bits"]))
    result["changes"] = changes
    t = _timed(seconds, "requantize", t)
    model = prune_and_finetune(model, float(point["sparsity"]), int(point["epochs"]),
                               x_train, y_train, int(point.get("seed", 0)))
    result["kernel_sparsity"] = round(kernel_sparsity(model), 4)
    model.save(folder / "model.h5", include_optimizer=False)
    t = _timed(seconds, "finetune", t)
    hw = hwgen.convert(str(folder / "model.h5"), reuse=point["reuse"],
                       target=point["target"], mult=point.get("mult", "csd"),
                       input_format=point.get("input_format"), out=folder / "build",
                       log=None)
    # Both accuracies on the test inputs put on the input grid, where they are equal.
    x_grid = codes_to_float(hw.to_codes(x_test), hw.input_format.frac).reshape(x_test.shape)
    ref = hw.predict(x_grid)
    ref = ref[0] if isinstance(ref, list) else ref
    logits = logits_model(hw.loaded.model) or hw.loaded.model
    keras = np.asarray(logits.predict(x_grid.astype(np.float32), verbose=0, batch_size=1024))
    result["accuracy_reference"] = float(np.mean(ref.reshape(len(ref), -1).argmax(1) == y_test))
    result["accuracy_qkeras"] = float(np.mean(keras.reshape(len(keras), -1).argmax(1)
                                              == y_test))
    t = _timed(seconds, "accuracy", t)
    if point["target"] in ("ecp5", "ice40"):
        # A point that fits no device fails here, before the co-simulation and toggle
        # runs (Verilator builds) whose figures its failed row would not show; the
        # report below reuses this synthesis (cached by content).
        from ..errors import HwgenError
        from ..flow.steps import target_device
        est = hw.estimate(power=False)
        try:
            target_device(point["target"], est.manifest, est.total)
        except HwgenError as exc:
            raise RuntimeError(f"does not fit: {exc}") from None
        t = _timed(seconds, "fit_check", t)
    report = hw.report(n=int(point.get("n", 2000)), rate=float(point.get("rate", 1000.0)),
                       grid=point.get("grid"))
    _timed(seconds, "hardware", t)
    d = report.data
    placed = d.get("pnr")
    if placed is not None and not placed.get("fits"):
        raise RuntimeError(f"does not fit: {placed.get('message')}")
    if report.failed:
        raise RuntimeError("the RTL or the reference disagreed: see "
                           f"{folder / 'build' / 'report.md'}")
    energy = (d.get("power") or {}).get("energy_per_inference_nj", {}).get("busy")
    result["carbon"] = dict(d.get("carbon") or {}, cpu=(d.get("measured") or {}).get("cpu"))
    total = d["resources"]["total"]
    result.update(resources=total, lut=_luts(total), ff=total.get("FF"),
                  dsp=total.get("DSP", 0), fmax_mhz=d.get("fmax_mhz"),
                  latency_cycles=d["latency"]["cycles"], latency_ns=d["latency"]["ns"],
                  ii=d["hardware"]["ii"], energy_per_inference_nj=energy,
                  reuse_used=d["options"]["reuse"], device=d.get("device"))


def _luts(total: dict):
    """The target's logic count: LUT4 (iCE40, ECP5), LUT (7-series) or gates (ASIC)."""
    for kind in ("LUT4", "LUT", "gates"):
        if kind in total:
            return total[kind]
    return None
