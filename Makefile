# The two commands of the README:  make report  and  make test.
# Both create .venv when it is missing and install the project into it first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.credit-lab-installed
PARAMS ?= params/default.yaml

.PHONY: setup report smoke test test-unit test-e2e lab clean help

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "credit_lab needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# A kernel for JupyterLab inside the venv; `credit-lab run` makes its own for papermill.
	$(BIN)/python -m ipykernel install --sys-prefix --name credit-lab --display-name "credit_lab"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its dependencies

report: setup  ## run the default pipeline (PARAMS=params/default.yaml) into outputs/
	$(BIN)/credit-lab run $(PARAMS)

smoke: setup  ## a tiny run for a quick check
	$(BIN)/credit-lab run params/smoke.yaml

# Two pytest runs, both always, failing if either fails. The notebooks in one process, in order: they run in
# one kernel each and share outputs/notebook-smoke (pytest-xdist's --dist loadgroup did not keep a notebook's
# cells on one worker). The tests on TEST_WORKERS pytest-xdist workers, each file wholly on one worker
# (--dist loadfile), so a module's fixtures (its pipeline run, its LocalCluster) are built once.
TEST_WORKERS ?= 2

test: setup  ## run the whole test suite (notebooks, then unit and end to end on TEST_WORKERS workers)
	status=0; \
	$(BIN)/python -m pytest notebooks/ || status=$$?; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/ || status=$$?; \
	exit $$status

test-unit: setup  ## only the unit tests (-m unit: no CLI, no run folder, no notebook), under 2 minutes
	$(BIN)/python -m pytest -m unit tests/

test-e2e: setup  ## only the end-to-end tests (-m e2e: CLI, pipeline and stage runs)
	$(BIN)/python -m pytest -m e2e tests/

lab: setup  ## open the notebooks in JupyterLab on the project's kernel
	$(BIN)/jupyter lab notebooks/

clean:  ## remove generated runs (keeps .venv)
	find outputs -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +
