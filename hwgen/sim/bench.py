"""The layered cocotb test bench: driver, monitor, reference model, scoreboard.

Everything comes from the manifest (port names, element slices, latency), never from the
Verilog. The driver applies vectors on `in_valid`/`in_data` back to back (one every `ii`
clocks) or with random idle gaps; the monitor collects every `out_data` seen with `out_valid`; the reference model
holds what `ir/interp.py` computed for each vector; the scoreboard compares every output
bit, in order, and keeps the first mismatches in detail. Per-cycle work happens in Python
here, so this bench is for gaps, waves and debugging; `cocotb_tests.batch` is the fast path.
"""
from __future__ import annotations

import random

import numpy as np

from .codec import bits_of_hex, pack, port_width, unpack


class Driver:
    def __init__(self, dut, manifest: dict):
        self.dut, self.manifest = dut, manifest
        self.cycles: list[int] = []        # clock edge at which each vector was applied

    async def run(self, words: list[int], gap_rate: float, seed: int):
        from cocotb.triggers import RisingEdge
        rng = random.Random(seed)
        dut = self.dut
        edge = 0
        ii = self.manifest.get("ii", 1)
        for k, w in enumerate(words):
            if k:
                for _ in range(ii - 1):      # a folded design takes one vector per ii
                    dut.in_valid.value = 0
                    await RisingEdge(dut.clk)
                    edge += 1
            while gap_rate and k >= len(words) - len(words) // 4 and rng.random() < gap_rate:
                dut.in_valid.value = 0
                await RisingEdge(dut.clk)
                edge += 1
            dut.in_valid.value = 1
            dut.in_data.value = w
            await RisingEdge(dut.clk)
            edge += 1
            self.cycles.append(edge)
        dut.in_valid.value = 0


class PixelDriver:
    """Streams images pixel by pixel on `in_valid`/`in_ready`/`in_data` (a streaming
    design): a pixel moves at an edge where both are high. The first `back_to_back` images
    are offered on every cycle; the rest with random idle cycles."""

    def __init__(self, dut, manifest: dict):
        self.dut, self.manifest = dut, manifest
        self.first_taken: list[int] = []     # edge that took each image's first pixel

    async def run(self, images: np.ndarray, back_to_back: int, gap_rate: float, seed: int):
        from cocotb.triggers import ReadOnly, RisingEdge
        rng = random.Random(seed)
        dut = self.dut
        elements = self.manifest["input"]["pixel_elements"]
        channels = len(elements)
        edge = 0
        for k, image in enumerate(images):
            words = pack(elements, np.asarray(image).reshape(-1, channels))
            for p, w in enumerate(words):
                while k >= back_to_back and gap_rate and rng.random() < gap_rate:
                    dut.in_valid.value = 0
                    await RisingEdge(dut.clk)
                    edge += 1
                dut.in_valid.value = 1
                dut.in_data.value = w
                while True:
                    await ReadOnly()
                    taken = int(dut.in_ready.value)
                    await RisingEdge(dut.clk)
                    edge += 1
                    if taken:
                        break
                if p == 0:
                    self.first_taken.append(edge)
        dut.in_valid.value = 0


class Monitor:
    def __init__(self, dut):
        self.dut, self.seen, self.cycles, self.at = dut, [], 0, []

    async def run(self):
        from cocotb.triggers import RisingEdge
        while True:
            await RisingEdge(self.dut.clk)
            self.cycles += 1
            if int(self.dut.out_valid.value):
                self.seen.append(format(int(self.dut.out_data.value), "x"))
                self.at.append(self.cycles)


class ReferenceModel:
    """Expected output codes (and argmax) per vector, from the reference interpreter."""

    def __init__(self, expected: np.ndarray, logits: bool):
        self.codes = np.asarray(expected).reshape(len(expected), -1)
        self.argmax = np.argmax(self.codes, axis=1) if logits else None


class Scoreboard:
    def __init__(self, manifest: dict, model: ReferenceModel, inputs: np.ndarray,
                 keep: int = 10):
        self.manifest, self.model, self.inputs, self.keep = manifest, model, inputs, keep

    def check(self, hex_words: list[str]) -> dict:
        """Compare observed outputs (hex, in order) with the model; a summary dict."""
        port = self.manifest["output"]
        want = self.model.codes
        n = len(want)
        got_n = min(len(hex_words), n)
        bits = bits_of_hex(hex_words[:got_n], port_width(self.manifest, "out_data"))
        codes, argmax = unpack(port, bits)
        self.got = (codes, argmax)       # the RTL's outputs, decoded, in order
        bad = np.any(codes != want[:got_n], axis=1)
        if argmax is not None:
            bad |= argmax != self.model.argmax[:got_n]
        rows = np.flatnonzero(bad)
        first = []
        for r in rows[:self.keep]:
            diff = np.flatnonzero(codes[r] != want[r]).tolist()
            entry = {"vector": int(r), "input_codes": self.inputs[r].ravel().tolist()[:64],
                     "expected": want[r].tolist(), "got": codes[r].tolist(),
                     "differing_elements": diff}
            if argmax is not None:
                entry.update(expected_argmax=int(self.model.argmax[r]),
                             got_argmax=int(argmax[r]))
            first.append(entry)
        missing = n - got_n
        extra = max(len(hex_words) - n, 0)
        return {"vectors": n, "outputs_seen": len(hex_words),
                "mismatches": int(len(rows)) + missing + extra,
                "missing_outputs": missing, "extra_outputs": extra,
                "first_mismatches": first}


def input_words(manifest: dict, codes: np.ndarray) -> list[int]:
    return pack(manifest["input"]["elements"], codes)
