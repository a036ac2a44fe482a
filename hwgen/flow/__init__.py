"""The hardware flow: its steps (`steps.py`: lower, RTL, synthesis, place and route,
report) and the commands' work built from them (`run.py`: build with the auto-fit,
co-simulation, estimate, power, the whole flow, hls4ml). The `hwgen` command and the
benchmark both call these."""
from .steps import (AUTO_REUSE, build_fitting, build_rtl, design_data, fits_for_auto,  # noqa: F401
                    hardware_section, layer_rows, lower, make_report, place, power_device,
                    rate_matched_reuse, save_json, synthesize_and_place, synthesize_layers,
                    target_device, tool_versions)

# The names the package re-exports (pyflakes reads this as their use).
__all__ = ["AUTO_REUSE", "build_fitting", "build_rtl", "design_data", "fits_for_auto",
           "hardware_section", "layer_rows", "lower", "make_report", "place", "power_device",
           "rate_matched_reuse", "save_json", "synthesize_and_place", "synthesize_layers",
           "target_device", "tool_versions"]
