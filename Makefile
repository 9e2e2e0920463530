# The two commands of the README: `make run` and `make test`. Each builds the virtualenv
# (.venv) from the pinned requirements first, and only again when the pins change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= profiles/default
REPORT := results/report.html

.PHONY: run test report lint clean

$(STAMP): requirements.txt constraints.txt
	@echo "Setting up $(VENV) from requirements.txt (a few minutes the first time; log in $(VENV)/install.log)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt -c constraints.txt \
		> $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --profile $(PROFILE)
	$(BIN)/snakemake --profile $(PROFILE) --report $(REPORT)
	@echo "Report of the night: $(abspath $(REPORT))"

test: $(STAMP)
	$(BIN)/python -m pytest

report: $(STAMP)
	$(BIN)/snakemake --profile $(PROFILE) --report $(REPORT)
	@echo "Report of the night: $(abspath $(REPORT))"

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check workflow tests

clean:
	rm -rf results logs benchmarks/rules .snakemake
