"""ECP5 carry chains that nextpnr places as Yosys counts them: no feed-in or feed-out cells.

nextpnr-ecp5 gives every carry chain a feed-in CCU2C when its first CIN is connected,
even to a constant, and a feed-out CCU2C when its last COUT is connected, even to nothing
(ecp5/pack.cc, `split_carry_chain`). Yosys's `$alu` mapping (lattice/arith_map_ccu2c.v)
connects both on every adder: its CIN is the adder's constant carry-in, its last COUT
drives the `$alu`'s carry-out whether read or not. hwgen's designs are thousands of short
adders (the zoo jet tagger fully parallel: 3,936 chains of about 6 CCU2C), so nextpnr
placed 65,790 logic cells where Yosys counted 1,556 LUT4 + 24,240 CCU2C (50,036 cells),
and the design did not fit the LFE5U-85F with room to place.

Two steps, one each side of Yosys's mapping, remove them:
- `ALU_MAP`, a techmap tried before Yosys's own adder mapping in synth_ecp5's gate
  mapping (`map_steps`, `synth_script`): an adder with a constant carry-in starts with a *generator* half-cell, whose LUT4 is 0 (it propagates
  nothing, so its carry-out is its LUT2 alone, the constant) and which therefore never
  reads CIN, the way nextpnr's own feed-in cell works. The adder's bits follow from the
  second half-cell on. An odd-width adder fills the half-cell that Yosys's pairwise mapping
  leaves empty, so it costs no CCU2C more; an even-width one one more, as the feed-in did.
  The `$alu`'s carry-outs, rarely read, come from LUTs (from each bit's operands and sum:
  no ripple), so the last COUT feeds nothing.
- `free_chain_ends`, on Yosys's JSON before nextpnr: Yosys ties every unconnected CIN to
  0 and gives every COUT a net. It disconnects a COUT nothing reads, and the CIN of a
  generator cell whose first sum nothing reads (what only that sum would see).

Measured on the zoo jet tagger fully parallel (`nextpnr-ecp5 --pack-only`, LFE5U-85F):
65,790 packed cells before, 53,654 after (1,560 LUT4 + 26,046 CCU2C: nothing added).
The mapping is hand-written because Yosys has no option for it; tests/estimate/
test_ecp5_carry.py proves it equal to the RTL with Yosys's SAT solver and Yosys's own
CCU2C model.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

MAP_FILE = "hwgen_ecp5_alu.map"
# LUT4s only (no PFUMX/L6MUX21 wide LUTs): estimate/yosys.py says why.
SYNTH_OPTIONS = "-abc9 -nowidelut"

# Verilog for Yosys's techmap; the CCU2C half-cell is LUT4 (propagate) + LUT2 (INIT[3:0]
# on A, B: generate), carry-out = propagate ? carry-in : generate (Yosys's
# lattice/ccu2c_sim.vh). ADD is Yosys's own adder half (LUT4 = A ^ B ^ C with D high,
# C = BI inverting B; LUT2 = A).
ALU_MAP = r"""// hwgen: ECP5 adders with a constant carry-in, started by a generator half-cell
// (hwgen/estimate/ecp5_carry.py says why).
(* techmap_celltype = "$alu" *)
module _70_hwgen_ccu2c_alu (A, B, CI, BI, X, Y, CO);
	parameter A_SIGNED = 0;
	parameter B_SIGNED = 0;
	parameter A_WIDTH = 1;
	parameter B_WIDTH = 1;
	parameter Y_WIDTH = 1;
	parameter _TECHMAP_CONSTMSK_CI_ = 0;
	parameter _TECHMAP_CONSTVAL_CI_ = 0;

	(* force_downto *)
	input [A_WIDTH-1:0] A;
	(* force_downto *)
	input [B_WIDTH-1:0] B;
	(* force_downto *)
	output [Y_WIDTH-1:0] X, Y;
	input CI, BI;
	(* force_downto *)
	output [Y_WIDTH-1:0] CO;

	// As Yosys's own mapping: up to 4 bits in LUTs; a carry-in from logic: Yosys's.
	wire _TECHMAP_FAIL_ = Y_WIDTH <= 4 || _TECHMAP_CONSTMSK_CI_ != 1;

	(* force_downto *)
	wire [Y_WIDTH-1:0] A_buf, B_buf;
	\$pos #(.A_SIGNED(A_SIGNED), .A_WIDTH(A_WIDTH), .Y_WIDTH(Y_WIDTH)) A_conv (.A(A), .Y(A_buf));
	\$pos #(.A_SIGNED(B_SIGNED), .A_WIDTH(B_WIDTH), .Y_WIDTH(Y_WIDTH)) B_conv (.A(B), .Y(B_buf));

	// Half-cell 0 generates the carry-in; half-cell k + 1 is bit k; a last spare
	// half-cell has all inputs high and LUT4 0.
	localparam CELLS = (Y_WIDTH + 2) / 2;
	localparam SPARE = 2 * CELLS - Y_WIDTH - 1;
	localparam [15:0] ADD = 16'b1001011010101010;
	// All inputs high: LUT4 reads INIT[15] (0), LUT2 reads INIT[3] (the carry-in).
	localparam [15:0] GEN = _TECHMAP_CONSTVAL_CI_ ? 16'h0008 : 16'h0000;

	(* force_downto *)
	wire [2*CELLS-1:0] HA = {{SPARE{1'b1}}, A_buf, 1'b1};
	(* force_downto *)
	wire [2*CELLS-1:0] HB = {{SPARE{1'b1}}, B_buf, 1'b1};
	(* force_downto *)
	wire [2*CELLS-1:0] HC = {{SPARE{1'b1}}, {Y_WIDTH{BI}}, 1'b1};
	(* force_downto *)
	wire [2*CELLS-1:0] HS;
	// The carry into each CCU2C: none into the first (its generator reads none: Yosys
	// ties it to 0 and `free_chain_ends` disconnects it), then the chain; the last
	// COUT is read by nothing (`free_chain_ends` disconnects it too).
	(* force_downto *)
	wire [CELLS:0] FC;
	assign FC[0] = 1'b0;

	genvar i;
	generate for (i = 0; i < CELLS; i = i + 1) begin:slice
		localparam [15:0] INIT0 = i == 0 ? GEN : ADD;
		localparam [15:0] INIT1 = 2 * i + 1 <= Y_WIDTH ? ADD : 16'h0000;
		CCU2C #(.INIT0(INIT0), .INIT1(INIT1), .INJECT1_0("NO"), .INJECT1_1("NO")) ccu2c_i (
			.CIN(FC[i]),
			.A0(HA[2*i]), .B0(HB[2*i]), .C0(HC[2*i]), .D0(1'b1),
			.A1(HA[2*i+1]), .B1(HB[2*i+1]), .C1(HC[2*i+1]), .D1(1'b1),
			.S0(HS[2*i]), .S1(HS[2*i+1]), .COUT(FC[i+1]));
	end endgenerate

	assign Y = HS[Y_WIDTH:1];
	(* force_downto *)
	wire [Y_WIDTH-1:0] BB = BI ? ~B_buf : B_buf;
	assign X = A_buf ^ BB;
	// A bit's carry-out: its operands' when they agree, else the inverse of its sum.
	assign CO = (A_buf & BB) | (X & ~Y);
endmodule
"""

# In scripts, so that a cached synthesis result is not reused across map versions.
MAP_DIGEST = hashlib.sha256(ALU_MAP.encode()).hexdigest()[:12]


def map_steps(top: str, options: str = SYNTH_OPTIONS) -> str:
    """Yosys commands up to and including `ALU_MAP`: synth_ecp5 up to its gate mapping,
    then the map (the file must be in the working directory: `write_map`). synth_ecp5
    `options` `-run map_gates:` goes on from there."""
    # synth_ecp5's own gate mapping with ALU_MAP beside Yosys's adder map: it maps the
    # adders that multi-operand sums ($macc) become in the same run. The map's module
    # name sorts first, so it is tried first (Yosys's map takes what it refuses).
    return (f"synth_ecp5 {options} -top {top} -run begin:map_gates\n"
            f"techmap -map +/techmap.v -map +/lattice/arith_map_ccu2c.v -map {MAP_FILE}"
            f"  # hwgen ALU map {MAP_DIGEST}\n")


def synth_script(top: str, options: str = SYNTH_OPTIONS, json_file: str | None = None
                 ) -> str:
    """Yosys commands synthesizing `top` (escaped as Yosys needs) for ECP5 with `ALU_MAP`
    ahead of Yosys's own adder mapping."""
    out = f" -json {json_file}" if json_file else ""
    return map_steps(top, options) + f"synth_ecp5 {options} -top {top} -run map_gates:{out}\n"


def write_map(work: Path) -> None:
    """`ALU_MAP` into `work`, where the Yosys script reads it (YoWASP's Yosys sees the
    working directory, not the package's)."""
    (Path(work) / MAP_FILE).write_text(ALU_MAP)


def free_chain_ends(path: Path) -> dict:
    """Disconnect, in Yosys's JSON netlist `path` (rewritten in place), each CCU2C's COUT
    that nothing reads, and the CIN of each CCU2C whose first half-cell is a generator
    (inputs all high, LUT4 0) and whose first sum nothing reads. Returns the counts."""
    design = json.loads(Path(path).read_text())
    freed = {"cin": 0, "cout": 0}
    for module in design["modules"].values():
        read = _read_bits(module)
        for cell in module["cells"].values():
            if cell["type"] != "CCU2C":
                continue
            ports = cell["connections"]
            cout = ports.get("COUT", ["x"])[0]
            if isinstance(cout, int) and cout not in read:
                ports["COUT"] = ["x"]
                freed["cout"] += 1
            cin = ports.get("CIN", ["x"])[0]
            if (cin in ("0", "1") and _generator_half(cell)
                    and ports.get("S0", ["x"])[0] not in read):
                ports["CIN"] = ["x"]
                freed["cin"] += 1
    Path(path).write_text(json.dumps(design))
    return freed


def _read_bits(module: dict) -> set:
    """Net bits something reads: a cell's input or an output port of the module."""
    read = set()
    for cell in module["cells"].values():
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if directions.get(port) != "output":
                read.update(b for b in bits if isinstance(b, int))
    for port in module["ports"].values():
        if port["direction"] != "input":
            read.update(b for b in port["bits"] if isinstance(b, int))
    return read


def _generator_half(cell: dict) -> bool:
    """The CCU2C's first half-cell has A0-D0 tied high and its LUT4 is then 0: its carry
    out is its LUT2 alone, and CIN reaches nothing but S0."""
    ports = cell["connections"]
    init0 = cell["parameters"]["INIT0"]
    init0 = init0 if isinstance(init0, int) else int(init0, 2)   # Yosys: a bit string
    return (all(ports.get(p, ["1"]) == ["1"] for p in ("A0", "B0", "C0", "D0"))
            and not init0 >> 15 & 1)


def main(argv: list[str] | None = None) -> int:
    """`python -m hwgen.estimate.ecp5_carry NETLIST.json`: the board build's step between
    Yosys and nextpnr (export/boards.py)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hwgen.estimate.ecp5_carry NETLIST.json", file=sys.stderr)
        return 2
    freed = free_chain_ends(Path(args[0]))
    print(f"hwgen: {freed['cout']} carry-chain ends and {freed['cin']} starts left "
          "unconnected for nextpnr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
