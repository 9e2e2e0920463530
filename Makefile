# The two commands of the README: `make run` and `make test`. Each builds the virtualenv
# (.venv) from the pinned requirements first, and only again when the pins change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= profiles/default
REPORT := results/report.html
# ASTRID_ENV=dev|staging|production adds config/environments/<name>.yaml over the base
# config; CONFIG=site.yaml adds a site's own file after it (both optional).
CONFIGS := $(if $(ASTRID_ENV),config/environments/$(ASTRID_ENV).yaml) $(CONFIG)
# Snakemake takes the files after one --configfile (a second --configfile replaces the
# first); the monitor and the scheduler take one flag per file.
CONFIG_ARGS := $(foreach f,$(CONFIGS),--configfile $(f))
SNAKEMAKE := $(BIN)/snakemake --profile $(PROFILE) $(if $(strip $(CONFIGS)),--configfile $(CONFIGS))

.PHONY: run test report lint clean mlflow-ui models rollback train starter-model monitor schedule follow unlock

$(STAMP): requirements.txt constraints.txt
	@echo "Setting up $(VENV) from requirements.txt (a few minutes the first time; log in $(VENV)/install.log)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt -c constraints.txt \
		> $(VENV)/install.log 2>&1 || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(SNAKEMAKE)
	$(SNAKEMAKE) --report $(REPORT)
	@echo "Report of the night: $(abspath $(REPORT))"

# Two pytest-xdist workers, a test module to each (tests/conftest.py orders them);
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

report: $(STAMP)
	$(SNAKEMAKE) --report $(REPORT)
	@echo "Report of the night: $(abspath $(REPORT))"

# The real/bogus model's registry (MLFLOW_TRACKING_URI when set, else the embedded store).
MLFLOW_STORE := sqlite:///$(abspath results/mlflow/mlflow.db)
ASTRID_PY := PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.realbogus.registry

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-$(MLFLOW_STORE)} --host 127.0.0.1 --workers 1

models: $(STAMP)
	$(ASTRID_PY) status

rollback: $(STAMP)
	@test -n "$(VERSION)" || { echo "usage: make rollback VERSION=<registered version>"; exit 2; }
	$(ASTRID_PY) rollback $(VERSION)

train: $(STAMP)
	$(SNAKEMAKE) --forcerun train_realbogus results/models/realbogus/training.json

# The starter model (resources/models/realbogus-starter.pt and its model card .md): trained
# on randomised simulations alone, about 15 minutes on 2 cores; the real alerts in
# ../shared (ASTRID_SHARED) are scored for the card when present, never trained on.
starter-model: $(STAMP)
	PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.realbogus.starter resources/models/realbogus-starter.pt

# Health checks; safe every 15 minutes (writes only results/monitoring/).
monitor: $(STAMP)
	PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.ops.monitor $(CONFIG_ARGS)

# The crontab (SCRON=1: SLURM scrontab) of the scheduled jobs; INSTALL=1 installs it.
schedule: $(STAMP)
	PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.ops.schedule $(if $(SCRON),--scrontab) $(if $(INSTALL),--install) $(CONFIG_ARGS)

# Follow mode: each frame processed as it lands, alerts as the night goes on (a site config,
# CONFIG=site.yaml, with demo.enabled false); NIGHT=YYYYMMDD follows that night, else the
# newest night folder. Runs until Ctrl-C or SIGTERM.
follow: $(STAMP)
	PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.ops.follow --profile $(PROFILE) $(CONFIG_ARGS) $(if $(NIGHT),--night $(NIGHT))

# Snakemake's lock left by a killed run; removed only when no live run holds the folder
# (python -m astrid.pipeline.runlock status says which run does).
unlock: $(STAMP)
	PYTHONPATH=workflow/scripts $(BIN)/python -m astrid.pipeline.runlock status
	$(SNAKEMAKE) --unlock

# The checks of .pre-commit-config.yaml (tests/workflow/test_static.py runs them too).
LINTED := workflow tests benchmarks tools
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/codespell $$(git ls-files)
	$(BIN)/python tools/check_api.py

clean:
	rm -rf results logs benchmarks/rules .snakemake
