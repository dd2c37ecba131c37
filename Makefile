# The README's commands. Everything runs inside a project-local .venv.
#   make train   set up (first time) and train the default model
#   make test    set up (first time), lint, and run the whole test suite
#   make bench   set up (first time) and run the speed benchmarks
#   make results set up (first time), run every pinned experiment, write RESULTS.md
#   make ucr     run what the UCR/UEA tables lack (hours from nothing), write RESULTS.md's section
#   make dashboard-check  train a sweep of 2 runs (adam, sgd) for 3 epochs, serve it with
#                TensorBoard, check that train and val loss share a chart and HPARAMS shows
#                the swept key, screenshot the pages (needs: apt-get install -y chromium)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Rebuilt only when the dependencies change.
STAMP := $(VENV)/.installed
# Two workers for the two cores (tests/conftest.py keeps torch at one thread each);
# worksteal: a worker that runs out of tests takes half of the other's queue, so the
# suite does not end on one worker running its leftover batch while the other idles.
PYTEST_WORKERS ?= 2
# data=ucr reads the UCR/UEA archive files bundled in this wheel, installed without its
# dependencies: no aeon release installs beside the pins in pyproject.toml (aeon 1.6.0
# needs numba < 0.64, which needs numpy < 2.4; 1.5.0 needs scikit-learn < 1.9), and
# engine/data/ucr.py reads the files without importing aeon.
AEON := aeon==1.6.0

.PHONY: setup train test lint format bench results ucr dashboard-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(AEON)
	@touch $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal -q

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/default_run.py
	$(BIN)/python bench/optimizers.py
	$(BIN)/python bench/sequence.py
	$(BIN)/python bench/gru_vs_lstm.py
	$(BIN)/python bench/vanishing.py
	$(BIN)/python bench/vision_graph.py
	$(BIN)/python bench/ensemble.py
	$(BIN)/python bench/gan_overhead.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/precision.py

dashboard-check: $(STAMP)
	$(BIN)/python scripts/dashboard_check.py

results: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python bench/results.py

# The two 5-seed tables of the README's time-series section (a rerun skips the runs in
# bench/ucr_runs.jsonl); the other recipes' rows take the flags the README names.
ucr: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python bench/ucr.py run --select best --epochs 100
	OMP_NUM_THREADS=1 $(BIN)/python bench/ucr.py run --select last --epochs 150 \
		--datasets OSULeaf ACSF1 PickupGestureWiimoteZ --families mlp cnn fcn resnet1d gru lstm transformer
	$(BIN)/python bench/ucr.py write

clean:
	rm -rf $(VENV) outputs multirun ensembles .pytest_cache .ruff_cache
