"""The carbon of inference: energy per year for a stated workload and its CO2e at a grid
carbon intensity, beside the same model run on this machine's CPU with TensorFlow.

Every figure is an estimate. The hardware's energy per inference comes from hwgen's power
model (`power.py`, on measured toggle rates). The CPU's comes from codecarbon (offline,
no network): the package's energy read from Intel RAPL where the machine exposes it, else
codecarbon's constant model, half of the CPU's TDP (from its CPU database, or its
generic 85 W when the CPU is not in it) while the model runs. Grid intensities are
codecarbon's per-country figures (Our World in Data / Ember, in its
`global_energy_mix.json`) and its world average (475 gCO2e/kWh, IEA's Global Energy &
CO2 Status Report 2019).
"""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np

from ..errors import HwgenError

SECONDS_PER_YEAR = 365 * 24 * 3600
DEFAULT_RATE = 1000.0                 # inferences per second, around the clock
WORLD = "world"


@contextlib.contextmanager
def _codecarbon_import():
    """A context for importing codecarbon: it imports pynvml, which warns on import that
    it is deprecated (noise in the flow's output, on machines with no GPU to ask too)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"codecarbon\.")
        yield


def grid_intensity(value=None) -> dict:
    """{"g_per_kwh", "source"} for a number (gCO2e/kWh), an ISO 3166 alpha-3 country code
    ("FRA", "USA"), or None / "world" (codecarbon's world average)."""
    with _codecarbon_import():
        from codecarbon.input import DataSource
    data = DataSource()
    if value is None or (isinstance(value, str) and value.lower() == WORLD):
        per_source = data.get_carbon_intensity_per_source_data()
        return {"g_per_kwh": float(per_source["world_average"]),
                "source": "world average, " + per_source.get("world_average_source", "IEA")
                + " (codecarbon)"}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value <= 5000:
            raise HwgenError(f"grid intensity must be 0..5000 gCO2e/kWh, not {value}")
        return {"g_per_kwh": float(value), "source": "given"}
    text = str(value).strip()
    try:
        return grid_intensity(float(text))
    except ValueError:
        pass
    mix = data.get_global_energy_mix_data()
    code = text.upper()
    if code not in mix:
        raise HwgenError(f"grid intensity {value!r}: give gCO2e/kWh (e.g. 300) or a "
                         "country code of ISO 3166 alpha-3 (e.g. FRA, DEU, USA), or "
                         "'world'")
    c = mix[code]
    return {"g_per_kwh": float(c["carbon_intensity"]),
            "source": f"{c.get('country_name', code)} {c.get('year', '')}, codecarbon's "
                      "global energy mix (Our World in Data)".replace("  ", " ")}


def yearly(energy_per_inference_nj: float, rate: float, intensity: dict) -> dict:
    """Energy per year (kWh) and its CO2e (kg) at `rate` inferences per second."""
    joules = energy_per_inference_nj * 1e-9 * rate * SECONDS_PER_YEAR
    kwh = joules / 3.6e6
    return {"energy_per_inference_nj": energy_per_inference_nj,
            "kwh_per_year": kwh, "kg_co2e_per_year": kwh * intensity["g_per_kwh"] / 1000}


def cpu_baseline(model, x: np.ndarray, repeats: int = 3) -> dict:
    """The model's time and energy per inference on this machine's CPU with TensorFlow
    (`predict` in batches of 1024 over `x`, the best of `repeats` runs), with codecarbon's
    CPU energy (RAPL, else its TDP model) over those runs."""
    import logging
    with _codecarbon_import():
        from codecarbon import OfflineEmissionsTracker
        from codecarbon.external.hardware import CONSUMPTION_PERCENTAGE_CONSTANT
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    x = np.asarray(x, dtype=np.float32)
    model.predict(x[:1024], verbose=0, batch_size=1024)          # build and warm up
    tracker = OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False,
                                      log_level="error", measure_power_secs=1,
                                      tracking_mode="machine", allow_multiple_runs=True)
    tracker.start()
    best = float("inf")
    t0 = time.perf_counter()
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(x, verbose=0, batch_size=1024)
        best = min(best, time.perf_counter() - t)
    wall = time.perf_counter() - t0
    tracker.stop()
    data = tracker.final_emissions_data
    cpu = next((h for h in getattr(tracker, "_hardware", []) if type(h).__name__ == "CPU"),
               None)
    mode = getattr(cpu, "_mode", "constant")
    per_inference_s = best / len(x)
    power_w = float(data.cpu_power)            # codecarbon's CPU power over the runs
    method = ("RAPL package power (codecarbon)" if mode == "intel_rapl" else
              f"codecarbon's constant model: {CONSUMPTION_PERCENTAGE_CONSTANT:.0%} of the "
              f"CPU's TDP of {getattr(cpu, '_tdp', '?')} W"
              + (" (its generic TDP: this CPU is not in its database)"
                 if getattr(cpu, "_is_generic_tdp", False) else ""))
    return {"cpu": data.cpu_model, "time_per_inference_us": per_inference_s * 1e6,
            "power_w": power_w, "energy_per_inference_nj": power_w * per_inference_s * 1e9,
            "method": method + ", times the measured time per inference",
            "vectors": int(len(x)), "batch": 1024, "timed_s": round(wall, 3),
            "estimate": True}


def carbon_section(hw_energy_nj: float | None, cpu: dict | None, rate: float,
                   intensity: dict) -> dict:
    """The report's `carbon` record: hardware and CPU side by side for the workload."""
    out = {"estimate": True, "rate_per_s": rate, "grid": intensity,
           "method": "energy per inference x rate x one year; CO2e = kWh x grid intensity"}
    if hw_energy_nj is not None:
        out["hardware"] = yearly(hw_energy_nj, rate, intensity)
    if cpu is not None:
        out["cpu"] = dict(cpu, **yearly(cpu["energy_per_inference_nj"], rate, intensity))
    if hw_energy_nj and cpu:
        out["cpu_over_hardware"] = cpu["energy_per_inference_nj"] / hw_energy_nj
    return out
