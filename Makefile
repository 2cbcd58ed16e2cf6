# make run   — set up and start the UI, the worker and the API on the embedded SQLite database
#              (webhooks registered at the local API, http://127.0.0.1:API_PORT, unless PUBLIC_API_URL is set)
# make test  — set up and run lint (ruff, the import contract) + the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/python -m core migrate
	$(BIN)/python -m core bootstrap
	LOCAL_WEBHOOKS=1 $(BIN)/honcho start  # webhooks at the local API unless PUBLIC_API_URL is set

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

# The suite runs on two processes (a module stays on one); the browser tests run after it, alone,
# because they time a live campaign.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile -m "not browser" $(PYTEST_ARGS)
	$(BIN)/pytest -m browser tests/e2e $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
