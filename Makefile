# The two commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= all

.PHONY: run test install lint clean

$(BIN)/debiasqe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(BIN)/debiasqe

run: install  ## the default pipeline (embedded demo) on this machine, ending with results/report.html
	$(BIN)/python -m debiasqe.core.stale_lock  # after a killed run: remove its stale lock (only if no snakemake runs here)
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete --report results/report.html --report-after-run

test: install  ## the whole test suite, offline
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: install
	$(BIN)/snakemake --lint

clean:
	rm -rf results resources .snakemake
