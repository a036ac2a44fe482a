# hwgen: two commands do everything on a fresh machine.
#   make hw     run the flow on a design (MODEL=jet_tagger by default)
#   make test   run the test suite (make test-all: with the slow cases)
# Also: make sim MODEL=x N=100000 (longer co-simulation), make bench (build/bench.json),
# make bench-peers (beside da4ml and alkaid, build/bench-peers.json),
# make export MODEL=x BOARD=icebreaker (board project), make hls MODEL=x (hls4ml project),
# make sweep MODEL=x BITS=4,6,8 SPARSITY=0,0.5,0.75,0.9 (design-space sweep on Ray).
# Both create the virtualenv in .venv/ on demand (again only when pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  ?= jet_tagger
N      ?= 10000
SEED   ?= 0
MULT   ?= csd
# PIPELINE: empty = registers placed by estimated delay for the target's clock (the CLI's
# default), or a number: a register every N levels (the manual override).
PIPELINE ?=
# REUSE: empty = the command's default (hw, export: auto, the smallest that fits; build,
# sim: 1, fully parallel), or a number, or auto. hls passes a number on as hls4ml's ReuseFactor.
REUSE  ?=
TARGET ?= ecp5
BOARD  ?= icebreaker
PYTEST_ARGS ?=
# ARGS: further options of the hwgen command, e.g. a model without an input quantizer or
# with float layers: ARGS="--input-format 'fixed<8,3>' --precision 'fixed<16,6>'"
ARGS   ?=
HW_ARGS = --mult $(MULT) $(if $(PIPELINE),--pipeline $(PIPELINE)) $(if $(REUSE),--reuse $(REUSE)) $(ARGS)

.PHONY: bench-peers hw sim build bench test test-all verify inspect list clean venv export hls fuzz golden sweep

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

hw: $(STAMP)
	$(BIN)/hwgen flow $(MODEL) --n $(N) --seed $(SEED) --target $(TARGET) $(HW_ARGS)

build: $(STAMP)
	$(BIN)/hwgen build $(MODEL) $(HW_ARGS)

sim: $(STAMP)
	$(BIN)/hwgen sim $(MODEL) --n $(N) --seed $(SEED) $(HW_ARGS)

export: $(STAMP)
	$(BIN)/hwgen export $(MODEL) --board $(BOARD) $(HW_ARGS)

BITS     ?= 4,6,8
SPARSITY ?= 0,0.5,0.75,0.9
EPOCHS   ?= 2
sweep: $(STAMP)
	$(BIN)/hwgen sweep $(MODEL) --bits $(BITS) --sparsity $(SPARSITY) --epochs $(EPOCHS) --target $(TARGET) $(if $(REUSE),--reuse $(REUSE)) $(if $(DATA),--data $(DATA)) $(ARGS)

# hls4ml takes one ReuseFactor for every layer; REUSE=auto and LAYER=R are hwgen's own.
hls: $(STAMP)
	$(BIN)/hwgen hls $(MODEL) --n $(N) --seed $(SEED) $(if $(findstring =,$(REUSE)),,$(if $(filter-out auto,$(REUSE)),--reuse $(REUSE))) $(ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/bench.py --out build/bench.json $(if $(REUSE),--reuse $(REUSE))

# bench-peers: hwgen beside da4ml 0.6.0 and alkaid 0.8.2 on the same weights and the same
# Yosys command (build/bench-peers.json); the peers need numpy 2, so their own virtualenv.
PEERS_STAMP := .venv-peers/.installed
$(PEERS_STAMP):
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install -q "da4ml==0.6.0" "alkaid==0.8.2"
	touch $@

bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python scripts/bench_peers.py --out build/bench-peers.json

# test: the default selection (every tool runs: Verilator, Yosys, nextpnr, hls4ml) on
# JOBS pytest-xdist workers (default: one per core); test-all adds the slow cases (large zoo
# co-simulations, more random models, a second CLI flow). Figures in docs/contributing.md.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

# fuzz: N random QKeras models from SEED (BRANCHES=1: skips and merges; CNN=1: CNNs),
# reference vs QKeras (twin and untouched model) and RTL vs reference in Verilator (HLS=1:
# also hls4ml's C simulation vs reference); a failing seed is printed with its replay
# command.
fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz.py --n $(if $(filter command line,$(origin N)),$(N),20) --seed $(SEED) $(if $(VECTORS),--vectors $(VECTORS)) $(if $(BRANCHES),--branches) $(if $(CNN),--cnn) $(if $(HLS),--hls)

# golden: rewrite designs/*/golden.json (sha256 of each design's Verilog, manifest and IR)
# after a change meant to alter the hardware; make test compares against them.
golden: $(STAMP)
	$(BIN)/python -m hwgen.golden --write

verify: $(STAMP)
	$(BIN)/hwgen verify-model $(MODEL) --n $(N) --seed $(SEED) $(ARGS)

inspect: $(STAMP)
	$(BIN)/hwgen inspect $(MODEL) $(ARGS)

list: $(STAMP)
	$(BIN)/hwgen list

clean:
	rm -rf build
