"""Checks of generated RTL in Verilator shared by the tests."""
from __future__ import annotations

from pathlib import Path

from hwgen.sim.runner import cosim


def assert_exact_in_batch_and_stream(graph, manifest: dict, rtl: Path, work: Path,
                                     seed: int, batch: int = 3000, stream: int = 600):
    """Every output bit equal to the reference on `batch` random vectors, and on `stream`
    vectors through the stream bench, each output exactly the manifest's latency after
    its input."""
    for mode, n in (("batch", batch), ("stream", stream)):
        r = cosim(graph, manifest, rtl, work / f"sim-{mode}", n, seed, mode=mode,
                  log=lambda s: None)
        assert r["outputs_seen"] == n and r["mismatches"] == 0, r["first_mismatches"][:2]
        if mode == "stream":
            assert r["latency_observed"] == [manifest["latency"]]


def assert_exact_in_images_and_pixels(graph, manifest: dict, rtl: Path, work: Path,
                                      images: int, seed: int):
    """A streaming design: `images` random images exact through the batch harness, and
    four through the pixel bench, each output exactly the manifest's latency after its
    image."""
    fast = cosim(graph, manifest, rtl, work / "sim", images, seed, log=lambda s: None)
    assert fast["mismatches"] == 0, fast["first_mismatches"][:2]
    bench = cosim(graph, manifest, rtl, work / "pixels", 4, seed, mode="pixels",
                  log=lambda s: None)
    assert bench["mismatches"] == 0 and bench["latency_observed"] == [manifest["latency"]]
