# Two commands on a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-all lint typecheck protos bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# `make run`: a fresh local cluster in .regent-local each time (meta, data and logs of the last run are
# removed), keeping its certificates, so that `REGENT_CERTS_DIR=.regent-local/certs` stays valid.
LOCAL := .regent-local
run: $(STAMP)
	@mkdir -p $(LOCAL) && find $(LOCAL) -mindepth 1 -maxdepth 1 ! -name certs -exec rm -rf {} +
	$(BIN)/regent local --rootdir $(LOCAL)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests run in two workers (pytest-xdist), whole files to one worker so that a module's shared cluster
# starts once: 601 s of pytest instead of 820 on a quick VM (docs/decisions.md, "The test suite's time and
# its flakes").
# `make test PYTEST_ARGS=` runs them one at a time.
PYTEST_ARGS ?= -n 2 --dist loadfile
PYTEST := $(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck
	$(PYTEST)

# Every test, slow ones included, with hypothesis exploring: random examples, ten times as many
# (tests/hypothesis_profiles.py). The seed is printed first and on every failure; replay a run with
# `make test-all HYPOTHESIS_SEED=<seed>`.
test-all: lint typecheck
	@seed=$${HYPOTHESIS_SEED:-$$($(BIN)/python -c 'import secrets; print(secrets.randbits(32))')}; \
	echo "hypothesis seed $$seed (replay: make test-all HYPOTHESIS_SEED=$$seed)"; \
	REGENT_HYPOTHESIS_PROFILE=explore $(PYTEST) -m '' --hypothesis-seed=$$seed

protos: $(STAMP)
	$(BIN)/python tools/genproto.py

bench: $(STAMP)
	$(BIN)/regent bench meta --regions 1000000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
