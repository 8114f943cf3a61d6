# Two commands on a fresh machine: `make test` and `make demo`. Both set up .venv first, idempotently.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup test lint typecheck pytest fuzz demo bench train-quality clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> setting up $(VENV) (python >= 3.11) and installing router[dev,local]"
	@echo "    (the first install builds llama-cpp-python from source: a few minutes)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --quiet -e '.[dev,local]'
	@touch $(STAMP)

lint: setup
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

typecheck: setup
	@echo "==> mypy --strict"
	@$(VENV)/bin/mypy

pytest: setup
	@echo "==> pytest"
	@$(PY) -m pytest

test: lint typecheck pytest
	@echo "==> all checks passed"

fuzz: setup
	@echo "==> property tests with new random examples (make test draws fixed ones)"
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest $(shell grep -l "from hypothesis" tests/*.py)

demo: setup
	@echo "==> the decision, dry run: the sample workload over the built-in deployment set"
	@$(PY) -m router demo
	@echo
	@echo "==> for real: a local model answers, paid APIs only with their key set"
	@$(PY) -m router demo --live
	@echo
	@echo "==> the report of what just ran: spend, savings, compliance (also: --html report.html)"
	@$(PY) -m router report --ledger .router/demo-ledger.sqlite

bench: setup
	@echo "==> benchmarks (medians and ratios, measured side by side)"
	@$(PY) benchmarks/run.py

train-quality: setup
	@echo "==> training the quality predictor on ../shared/routing-data (seed 0, ~90 s)"
	@$(PY) scripts/train_quality.py
	@echo "==> training the answer scorer (cascade verifier) on the same split"
	@$(PY) scripts/train_answer_scorer.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
