"""Design-space sweeps on Ray: bits x sparsity x reuse factor, each point fine-tuned,
scored bit-exactly and run through the hardware flow; the Pareto front of accuracy
against energy and LUTs, and the carbon of the deployed model.

`sweep(...)` (also `hwgen sweep` and `hwgen.sweep`) runs the points as Ray tasks:
`ray.init()` on this machine by default, or an existing cluster by its address. Each
point's result is cached by a content hash (`point.point_key`), so a repeated or widened
sweep runs only what is new. A failed point is recorded with its reason.
"""
from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import HwgenError

POINT_CPUS = 1                      # a point trains on one core, then runs the tools
POINT_MEMORY = 3 * 2**30            # TensorFlow, Verilator and Yosys at once: 3 GiB


@dataclass
class SweepResult:
    folder: Path
    summary: dict

    @property
    def rows(self) -> list[dict]:
        return self.summary["rows"]

    @property
    def recommended(self) -> dict | None:
        return self.summary["recommended"]

    def _repr_html_(self) -> str:
        from ..api.results import Table
        head = ["bits", "sparsity", "reuse", "status", "accuracy_reference", "lut",
                "energy_per_inference_nj", "kg_co2e_per_year", "pareto"]
        return Table(head, [[r.get(h) for h in head] for r in self.rows],
                     f"sweep in {self.folder}")._repr_html_()


def sweep(model, data=None, bits=(4, 6, 8), sparsity=(0.0, 0.5, 0.75, 0.9), reuse=(1,),
          target: str = "ecp5", mult: str = "csd", epochs: int = 2, out=None,
          ray_address: str | None = None, min_accuracy: float | None = None,
          rate: float = 1000.0, grid=None, n: int = 2000, seed: int = 0,
          input_format: str | None = None, log=print) -> SweepResult:
    """Run the sweep; see the module's docstring. `model` is a design name or a model
    file (or a Keras model, saved into the sweep folder); `data` a .npz with x_train,
    y_train, x_test, y_test (default: the design's own data)."""
    from ..estimate.carbon import grid_intensity
    from ..outputs import locked
    from .outputs import write
    from .point import file_digest, point_key
    log = log or (lambda s: None)
    points = _points(bits, sparsity, reuse, target, mult, epochs, rate, grid, n, seed,
                     input_format)
    intensity = grid_intensity(grid)
    source, name = _model_file(model)
    folder = Path(out) if out else Path("build", name, "sweep")
    with locked(folder, "out") as folder:
        model_path = _stage_model(source, folder)
        data_path = _stage_data(data, name, folder)
        mdig, ddig = file_digest(model_path), file_digest(data_path)
        keys = [point_key(mdig, ddig, p) for p in points]
        results, todo = {}, []
        for key, p in zip(keys, points):
            cached = _cached(folder / "points" / key)
            if cached is not None:
                results[key] = dict(cached, cached=True)
            else:
                todo.append((key, p))
        log(f"sweep of {name}: {len(points)} points, {len(points) - len(todo)} cached, "
            f"{len(todo)} to run, into {folder}")
        if todo:
            fresh = _run_on_ray(model_path, data_path, todo, folder, ray_address, log)
            results.update({k: dict(v, cached=False) for k, v in fresh.items()})
        ordered = [results[k] for k in keys if k in results]
        meta = {"design": name, "target": target, "epochs": epochs, "rate": rate,
                "grid": intensity, "model_sha256": mdig, "data_sha256": ddig}
        summary = write(folder, ordered, min_accuracy, meta)
    log(f"wrote {folder / 'sweep.json'}, sweep.csv, report.md and the plots"
        + ("" if len(ordered) == len(points) else
           f" ({len(points) - len(ordered)} points not run: stopped)"))
    return SweepResult(folder, summary)


def _points(bits, sparsity, reuse, target, mult, epochs, rate, grid, n, seed, input_format):
    from ..api.options import TARGET_CHOICES
    from ..options import MULT_MODES
    bits, sparsity, reuse = list(bits), list(sparsity), list(reuse)
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 32:
            raise HwgenError(f"bits takes whole numbers 1..32, not {b!r}")
    for s in sparsity:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < 1:
            raise HwgenError(f"sparsity takes numbers in [0, 1), not {s!r}")
    for r in reuse:
        if r != "auto" and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise HwgenError(f"reuse takes whole numbers >= 1 or 'auto', not {r!r}")
    if target not in TARGET_CHOICES:
        raise HwgenError(f"target must be one of {', '.join(TARGET_CHOICES)}, not {target!r}")
    if mult not in MULT_MODES:
        raise HwgenError(f"mult must be one of {', '.join(MULT_MODES)}, not {mult!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise HwgenError(f"epochs must be a whole number >= 0, not {epochs!r}")
    if not (isinstance(rate, (int, float)) and rate > 0):
        raise HwgenError(f"rate must be a positive number of inferences per second, "
                         f"not {rate!r}")
    if not bits or not sparsity or not reuse:
        raise HwgenError("a sweep needs at least one value of bits, sparsity and reuse")
    return [{"bits": b, "sparsity": float(s), "reuse": r, "target": target, "mult": mult,
             "epochs": epochs, "rate": float(rate), "grid": grid, "n": n, "seed": seed,
             "input_format": input_format}
            for b, s, r in itertools.product(bits, sparsity, reuse)]


def _model_file(model):
    """(a path or Keras model to stage, the design's name)."""
    if isinstance(model, (str, Path)):
        from ..designs import design_dir
        text = str(model)
        d = design_dir(text) if "/" not in text and not Path(text).suffix else None
        if d is not None:
            return d / "model.h5", text
        path = Path(text)
        if not path.is_file():
            raise HwgenError(f"model {text!r}: give a design name (hwgen list) or a "
                             "full-model .h5/.keras file")
        return path, path.stem
    return model, getattr(model, "name", "model")


def _stage_model(source, folder: Path) -> Path:
    """The model as one file in the sweep folder (what every Ray worker loads)."""
    target = folder / "model.h5"
    if isinstance(source, Path):
        if source.suffix not in (".h5", ".keras"):
            raise HwgenError(f"model {source}: a sweep takes a full-model .h5 or .keras file")
        target = folder / f"model{source.suffix}"
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
        return target
    source.save(target, include_optimizer=False)
    return target


def _stage_data(data, name: str, folder: Path) -> Path:
    import numpy as np
    if data is not None:
        path = Path(data)
        if not path.is_file():
            raise HwgenError(f"--data {path}: no such file")
        with np.load(path) as d:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in d]
        if missing:
            raise HwgenError(f"--data {path} lacks {', '.join(missing)}: it needs x_train, "
                             "y_train, x_test and y_test")
        return path.resolve()
    from ..designs_data import splits
    x_tr, y_tr, x_te, y_te = splits(name)
    target = folder / "data.npz"
    buf = {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}
    if not target.exists():
        np.savez_compressed(target, **buf)
    return target


def _cached(point_dir: Path) -> dict | None:
    import json
    path = point_dir / "result.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _run_on_ray(model_path, data_path, todo, folder, address, log) -> dict:
    """Run the points as Ray tasks; progress lines as they finish; Ctrl-C cancels what
    runs and keeps what is done (its results are on disk already)."""
    import os
    import ray
    from .point import run_point
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False,
                 **({} if address else {"num_cpus": os.cpu_count() or 1}))
    remote = ray.remote(num_cpus=POINT_CPUS, memory=POINT_MEMORY, max_retries=0)(run_point)
    refs = {remote.remote(str(model_path), str(data_path), p,
                          str(folder / "points" / key)): key for key, p in todo}
    done, results, t0 = 0, {}, time.monotonic()
    failed = 0
    try:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=30)
            for ref in ready:
                key = refs[ref]
                try:
                    res = ray.get(ref)
                except Exception as exc:         # the worker itself died (memory, signal)
                    res = {"point": dict(todo)[key], "status": "failed",
                           "reason": f"the Ray task failed: {type(exc).__name__}: {exc}",
                           "seconds": {}}
                results[key] = res
                done += 1
                failed += res["status"] != "ok"
                p = res["point"]
                log(f"  [{done}/{len(refs)} done, {len(pending)} running or queued, "
                    f"{failed} failed, {time.monotonic() - t0:.0f} s] {p['bits']} bits, "
                    f"sparsity {p['sparsity']:g}, reuse {p['reuse']}: "
                    + (f"accuracy {res['accuracy_reference']:.4f}, "
                       f"{res.get('energy_per_inference_nj')} nJ" if res["status"] == "ok"
                       else f"failed: {res['reason'][:200]}"))
    except KeyboardInterrupt:
        log(f"  stopped: {done} points done (kept), cancelling the rest")
        for ref in refs:
            if refs[ref] not in results:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()
    return results
