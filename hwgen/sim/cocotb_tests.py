"""The cocotb tests the runner loads into the simulator (module `hwgen.sim.cocotb_tests`).

All read `HWGEN_SIM_CONFIG` (a JSON file written by `hwgen.sim.runner`) and write their
findings next to it; the comparison with the reference happens in `bench.Scoreboard`.
cocotb selects a test by a regular expression on its name, so no test name may contain
another (`stream`, `batch`, `selftest`, `uart_top`, `pixels`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from ..outputs import write_text
from .bench import Driver, Monitor, PixelDriver, ReferenceModel, Scoreboard, input_words

PERIOD_NS = 10


def _config() -> dict:
    return json.loads(Path(os.environ["HWGEN_SIM_CONFIG"]).read_text())


def _vectors():
    """(config, manifest, input codes, expected output codes) of a bench run."""
    cfg = _config()
    # Codes wider than 62 bits are Python ints (an object array, pickled by np.save).
    return (cfg, json.loads(Path(cfg["manifest"]).read_text()), np.load(cfg["inputs"]),
            np.load(cfg["expected"], allow_pickle=True))


async def _reset(dut):
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    dut.in_valid.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0


@cocotb.test()
async def stream(dut):
    """Layered bench on the bare DUT: back to back, then with random idle gaps."""
    cfg, manifest, inputs, expected = _vectors()
    model = ReferenceModel(expected, manifest["output"]["logits"])
    await _reset(dut)
    monitor = Monitor(dut)
    cocotb.start_soon(monitor.run())
    driver = Driver(dut, manifest)
    await driver.run(input_words(manifest, inputs), cfg["gap_rate"], cfg["seed"])
    await ClockCycles(dut.clk, manifest["latency"] + 4)
    result = Scoreboard(manifest, model, inputs).check(monitor.seen)
    result["cycles"] = monitor.cycles
    # Every output must appear exactly `latency` clock edges after its input was sampled.
    delays = sorted({o - i for i, o in zip(driver.cycles, monitor.at)})
    result["latency_observed"] = delays
    if delays != [manifest["latency"]]:
        result["mismatches"] += 1
        result["latency_error"] = (f"outputs came {delays} cycles after their inputs, the "
                                   f"manifest says {manifest['latency']}")
    write_text(cfg["result"], json.dumps(result))


@cocotb.test()
async def pixels(dut):
    """A streaming design: images pixel by pixel with the ready/valid handshake, the
    first back to back (their latency and output interval must be the manifest's), the
    rest with random idle cycles."""
    cfg, manifest, inputs, expected = _vectors()
    model = ReferenceModel(expected, manifest["output"]["logits"])
    await _reset(dut)
    monitor = Monitor(dut)
    cocotb.start_soon(monitor.run())
    driver = PixelDriver(dut, manifest)
    full = cfg["back_to_back"]
    await driver.run(inputs, full, cfg["gap_rate"], cfg["seed"])
    wait = manifest["latency"] + 4 * (manifest["ii"] or 1) + 16
    for _ in range(100):
        if len(monitor.seen) >= len(inputs):
            break
        await ClockCycles(dut.clk, wait)
    await ClockCycles(dut.clk, wait)
    result = Scoreboard(manifest, model, inputs).check(monitor.seen)
    result["cycles"] = monitor.cycles
    latency = [o - i for i, o in zip(driver.first_taken, monitor.at)]
    intervals = [b - a for a, b in zip(monitor.at[:full], monitor.at[1:full])]
    result.update(latency_observed=latency[:1], intervals_observed=sorted(set(intervals)))
    if latency[:1] != [manifest["latency"]] or (intervals and max(intervals) != manifest["ii"]):
        result["mismatches"] += 1
        result["latency_error"] = (f"first image out {latency[:1]} cycles after its first "
                                   f"pixel, images {sorted(set(intervals))} cycles apart; "
                                   f"the manifest says {manifest['latency']} and "
                                   f"{manifest['ii']}")
    write_text(cfg["result"], json.dumps(result))


@cocotb.test()
async def midreset(dut):
    """A reset while vectors are in flight: nothing that was in flight comes out after it,
    and the vectors sent after it come out right, `latency` cycles after their inputs."""
    cfg, manifest, inputs, expected = _vectors()
    half = len(inputs) // 2
    words = input_words(manifest, inputs)
    await _reset(dut)
    await Driver(dut, manifest).run(words[:half], 0.0, 0)      # in flight now
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    monitor = Monitor(dut)
    cocotb.start_soon(monitor.run())
    driver = Driver(dut, manifest)
    await driver.run(words[half:], 0.0, 0)
    await ClockCycles(dut.clk, manifest["latency"] + 4)
    model = ReferenceModel(expected[half:], manifest["output"]["logits"])
    result = Scoreboard(manifest, model, inputs[half:]).check(monitor.seen)
    result["latency_observed"] = sorted({o - i for i, o in zip(driver.cycles, monitor.at)})
    write_text(cfg["result"], json.dumps(result))


@cocotb.test()
async def batch(dut):
    """The harness makes vectors and prints outputs itself; load its fixed vectors, run,
    wait for `done`, and record the cycle count."""
    cfg = _config()
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    dut.cfg_n.value, dut.cfg_key.value = cfg["n"], cfg["key"]
    dut.cfg_offset.value, dut.cfg_idle.value = cfg["offset"], cfg.get("idle", 0)
    dut.cfg_gaps.value = int(cfg["gaps"])
    dut.cfg_fixed.value = cfg.get("fixed_vectors", len(cfg["fixed_hex"]))
    for addr, word in enumerate(cfg["fixed_hex"]):
        dut.load_en.value, dut.load_addr.value, dut.load_data.value = 1, addr, int(word, 16)
        await RisingEdge(dut.clk)
    dut.load_en.value = 0
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    limit = (cfg["n"] * 2 * cfg.get("ii", 1) + cfg.get("idle", 0) + cfg["latency"] + 100) \
        * PERIOD_NS
    await First(RisingEdge(dut.done), Timer(limit, unit="ns"))
    finished = bool(int(dut.done.value))
    await Timer((cfg["latency"] + 4) * PERIOD_NS, unit="ns")   # catch surplus outputs
    write_text(cfg["result"], json.dumps({"finished": finished,
                                               "cycles": int(dut.cycles.value)}))


def decode_uart(samples: list[int], divisor: int) -> str:
    """Bytes sent on a UART line sampled once per clock (8N1, `divisor` clocks per bit)."""
    out, i = [], 0
    while i < len(samples):
        if samples[i] == 0:                         # start bit: sample in the middle of bits
            mid = i + divisor // 2
            bits = [samples[mid + divisor * (k + 1)] for k in range(8)
                    if mid + divisor * (k + 1) < len(samples)]
            if len(bits) < 8:
                break
            out.append(sum(b << k for k, b in enumerate(bits)))
            i = mid + divisor * 9                   # in the stop bit
        else:
            i += 1
    return bytes(out).decode("latin-1")


@cocotb.test()
async def selftest(dut):
    """The board self-test top: run until `done`, then record the UART summary."""
    cfg = _config()
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    samples, cycles, done_at = [], 0, None
    while cycles < cfg["max_cycles"]:
        await RisingEdge(dut.clk)
        samples.append(int(dut.tx.value))
        cycles += 1
        if done_at is None and int(dut.done.value):
            done_at = cycles
        if done_at is not None and cycles - done_at > cfg["message_cycles"]:
            break
    write_text(cfg["result"], json.dumps({
        "done": done_at is not None, "done_cycle": done_at,
        "passed": int(dut.passed.value), "failed": int(dut.failed.value),
        "uart": decode_uart(samples, cfg["divisor"])}))


@cocotb.test()
async def uart_top(dut):
    """The UART streaming top: send the vectors as a host would (bit by bit on `rx`),
    record `tx`, and decode the answers."""
    cfg = _config()
    div, in_bytes = cfg["divisor"], cfg["in_bytes"]
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)

    async def send_byte(byte):
        for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
            dut.rx.value = bit
            await ClockCycles(dut.clk, div)

    async def send():
        for byte in cfg.get("junk_bytes", []):       # a partial vector, then a long pause
            await send_byte(byte)
        await ClockCycles(dut.clk, cfg.get("pause_cycles", 0))
        for word in cfg["vectors_hex"]:
            value = int(word, 16)
            for byte in value.to_bytes(in_bytes, "little"):
                await send_byte(byte)
            await ClockCycles(dut.clk, div * cfg.get("gap_bits", 0))

    cocotb.start_soon(send())
    samples = []
    want = len(cfg["vectors_hex"]) * cfg["out_bytes"] * 10 * div + cfg.get("pause_cycles", 0)
    expected_bytes = len(cfg["vectors_hex"]) * cfg["out_bytes"]
    for cycle in range(cfg["max_cycles"]):
        await RisingEdge(dut.clk)
        samples.append(int(dut.tx.value))
        if cycle >= want and cycle % 256 == 0 and \
                len(_decode_bytes(samples, div)) >= expected_bytes and all(samples[-12 * div:]):
            break
    raw = _decode_bytes(samples, div)
    write_text(cfg["result"], json.dumps({"bytes_hex": raw.hex(), "cycles": len(samples),
                                               "overflow": int(dut.overflow.value)}))


def _decode_bytes(samples: list[int], divisor: int) -> bytes:
    return decode_uart(samples, divisor).encode("latin-1")
