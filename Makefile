# hwgen: two commands do everything on a fresh machine.
#   make hw     run the flow on a design (MODEL=jet_tagger by default)
#   make test   run the test suite
# Both create the virtualenv in .venv/ on demand (again only when pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  ?= jet_tagger
N      ?= 10000
SEED   ?= 0
PYTEST_ARGS ?=

.PHONY: hw test verify inspect list clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

hw: $(STAMP)
	$(BIN)/hwgen flow $(MODEL) --n $(N) --seed $(SEED)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

verify: $(STAMP)
	$(BIN)/hwgen verify-model $(MODEL) --n $(N) --seed $(SEED)

inspect: $(STAMP)
	$(BIN)/hwgen inspect $(MODEL)

list: $(STAMP)
	$(BIN)/hwgen list

clean:
	rm -rf build
