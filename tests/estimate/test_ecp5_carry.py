"""hwgen's ECP5 adder mapping and chain-end freeing (estimate/ecp5_carry.py): proved equal
to the RTL by Yosys's SAT solver on Yosys's own CCU2C/LUT4 models, and placed by nextpnr
without a cell more than Yosys counted."""
import json
import random
import re

import pytest

from hwgen import processes, toolchain
from hwgen.estimate import ecp5_carry

pytestmark = pytest.mark.xdist_group("yosys")


def adders_verilog(seed: int) -> str:
    """A module of random adders and subtractors (odd and even widths, signed and not, a
    constant operand, shifted operands, read carry-outs and comparisons)."""
    rng = random.Random(seed)
    ins, outs, body = [], [], []
    for k in range(4):
        w = rng.randint(3, 9)
        ins.append(f"input {'signed ' if k % 2 else ''}[{w - 1}:0] i{k}")
    for k in range(10):
        a, b = rng.sample(range(4), 2)
        w = rng.randint(5, 14)
        kind = rng.choice(["add", "sub", "const", "shift", "carry", "lt", "gt", "three"])
        y = f"y{k}"
        if kind in ("lt", "gt"):
            outs.append(f"output {y}")
            body.append(f"assign {y} = i{a} {'<' if kind == 'lt' else '>'} i{b};")
            continue
        outs.append(f"output {'signed ' if rng.random() < 0.5 else ''}[{w - 1}:0] {y}")
        expr = {"add": f"i{a} + i{b}", "sub": f"i{a} - i{b}",
                "const": f"i{a} + {rng.randint(1, 40)}",
                "shift": f"(i{a} <<< {rng.randint(1, 3)}) - i{b}",
                "three": f"i{a} + i{b} - i{rng.randint(0, 3)}",
                "carry": None}[kind]
        if kind == "carry":       # a carry-out read: the top bit of a wider sum
            outs[-1] = f"output [{w}:0] {y}"
            expr = f"{{1'b0, i{a}[2:0], i{b}[2:0]}} + {{{w - 5}'d0, i{b}}}"
        body.append(f"assign {y} = {expr};")
    return ("module top(" + ", ".join(ins + outs) + ");\n  " + "\n  ".join(body)
            + "\nendmodule\n")


def yosys(work, script: str) -> str:
    (work / "run.ys").write_text(script)
    proc = processes.run(toolchain.yosys_command() + ["-q", "-l", "run.log", "-s", "run.ys"],
                         cwd=work)
    log = (work / "run.log").read_text()
    assert proc.returncode == 0, (proc.stderr or "") + log[-3000:]
    return log


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mapped_and_freed_netlist_equals_the_rtl(tmp_path, seed):
    (tmp_path / "t.v").write_text(adders_verilog(seed))
    ecp5_carry.write_map(tmp_path)
    yosys(tmp_path, "read_verilog t.v\nhierarchy -top top\n"
          + ecp5_carry.synth_script("top", json_file="gate.json"))
    netlist = json.loads((tmp_path / "gate.json").read_text())
    cells = netlist["modules"]["top"]["cells"].values()
    generators = [c for c in cells if c["type"] == "CCU2C" and ecp5_carry._generator_half(c)]
    assert generators, "no adder went through hwgen's map"
    freed = ecp5_carry.free_chain_ends(tmp_path / "gate.json")
    assert freed["cin"] == len(generators) and freed["cout"] > 0
    netlist = json.loads((tmp_path / "gate.json").read_text())
    netlist["modules"] = {"top": netlist["modules"]["top"]}    # not the cells' black boxes
    spare = 10 ** 6                  # Yosys refuses an output tied to x: a net nobody reads
    for cell in netlist["modules"]["top"]["cells"].values():
        if cell["connections"].get("COUT") == ["x"]:
            cell["connections"]["COUT"], spare = [spare], spare + 1
    (tmp_path / "top.json").write_text(json.dumps(netlist))
    # The netlist nextpnr gets (CIN and COUT now "x": undefined) against the RTL, every
    # output defined and equal for every defined input.
    log = yosys(tmp_path, "read_verilog +/lattice/common_sim.vh +/lattice/ccu2c_sim.vh\n"
                "read_json top.json\nhierarchy -top top\nproc\nflatten\nrename top gate\n"
                "read_verilog t.v\nrename top gold\nproc\n"
                "miter -equiv -flatten -make_assert gold gate miter\nhierarchy -top miter\n"
                "sat -verify -prove-asserts -enable_undef -set-def-inputs miter\n")
    assert "no model found: SUCCESS" in log


def test_a_wrong_generator_is_caught(tmp_path):
    """The proof above can fail: a generator that injects 0 where the carry-in is 1."""
    (tmp_path / "t.v").write_text("module top(input [6:0] a, b, output [7:0] y);\n"
                                  "  assign y = a - b;\nendmodule\n")
    (tmp_path / ecp5_carry.MAP_FILE).write_text(
        ecp5_carry.ALU_MAP.replace("16'h0008 : 16'h0000", "16'h0000 : 16'h0000"))
    yosys(tmp_path, "read_verilog t.v\nhierarchy -top top\n"
          + ecp5_carry.synth_script("top") + "write_verilog -noattr gate.v\n")
    (tmp_path / "run.ys").write_text(
        "read_verilog +/lattice/common_sim.vh +/lattice/ccu2c_sim.vh\nread_verilog gate.v\n"
        "hierarchy -top top\nproc\nflatten\nrename top gate\nread_verilog t.v\n"
        "rename top gold\nproc\nmiter -equiv -flatten -make_assert gold gate miter\n"
        "hierarchy -top miter\nsat -verify -prove-asserts -set-def-inputs miter\n")
    proc = processes.run(toolchain.yosys_command() + ["-q", "-l", "run.log", "-s", "run.ys"],
                         cwd=tmp_path)
    assert proc.returncode != 0 and "model found: FAIL" in (tmp_path / "run.log").read_text()


def test_nextpnr_packs_the_chains_without_adding_cells(tmp_path):
    """TRELLIS_COMB after nextpnr's packing = LUT4 + 2 x CCU2C from Yosys: no feed-in or
    feed-out cell (before: two more CCU2C per adder)."""
    (tmp_path / "t.v").write_text(adders_verilog(3))
    ecp5_carry.write_map(tmp_path)
    yosys(tmp_path, "read_verilog t.v\nhierarchy -top top\n"
          + ecp5_carry.synth_script("top", json_file="design.json")
          + "tee -q -o stat.json stat -json\n")
    cells = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    ecp5_carry.free_chain_ends(tmp_path / "design.json")
    proc = processes.run(toolchain.nextpnr_command("ecp5") + [
        "--25k", "--package", "CABGA381", "--out-of-context", "--json", "design.json",
        "--pack-only", "--log", "pack.log", "-q"], cwd=tmp_path)
    assert proc.returncode == 0, (tmp_path / "pack.log").read_text()[-2000:]
    comb = re.search(r"TRELLIS_COMB:\s+(\d+)/", (tmp_path / "pack.log").read_text())
    assert cells.get("CCU2C", 0) > 10
    # ... plus nextpnr's own constant drivers ($PACKER_GND, $PACKER_VCC)
    assert int(comb.group(1)) - (cells.get("LUT4", 0) + 2 * cells["CCU2C"]) in (0, 1, 2)


def test_the_board_build_runs_the_same_steps():
    """ulx3s's Amaranth build: Yosys with the map, hwgen's step, then nextpnr."""
    from hwgen.export import boards
    platform = boards.board("ulx3s-85f").make_platform()
    options = boards._ecp5_carry_chains(platform, "top")
    templates = platform.command_templates
    assert "yosys" in templates[0] and "hwgen-ecp5-carry" in templates[1]
    assert "nextpnr" in templates[2]
    assert ecp5_carry.MAP_FILE in options["script_after_read"]
    assert options["synth_opts"].endswith("-run map_gates:")
    assert platform.extra_files[ecp5_carry.MAP_FILE] == ecp5_carry.ALU_MAP
    assert "hwgen-ecp5-carry" in platform.required_tools


def test_the_command_frees_the_chain_ends(tmp_path, capsys):
    (tmp_path / "t.v").write_text(adders_verilog(4))
    ecp5_carry.write_map(tmp_path)
    yosys(tmp_path, "read_verilog t.v\nhierarchy -top top\n"
          + ecp5_carry.synth_script("top", json_file="design.json"))
    assert ecp5_carry.main([str(tmp_path / "design.json")]) == 0
    assert "carry-chain ends" in capsys.readouterr().out
    assert ecp5_carry.free_chain_ends(tmp_path / "design.json") == {"cin": 0, "cout": 0}
    assert ecp5_carry.main([]) == 2
