# Herald CI — `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= $(CURDIR)/data
export HERALD_DATA_DIR ?= $(DATA)
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres bench setup setup-test clean screenshots lock lint

# Installed from the locks: every package pinned, with its hashes.
# Then Herald itself, editable, for the `herald` command: nothing to
# download (no dependencies, the venv's own setuptools).
$(VENV)/.run-deps: requirements.lock pyproject.toml
	scripts/bootstrap.sh run
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

## Pin requirements.txt / requirements-dev.txt (the direct dependencies) and
## everything they pull in, with hashes, into the .lock files.
lock: $(VENV)/.run-deps
	$(VENV)/bin/pip install -q --disable-pip-version-check pip-tools==7.6.2
	for f in requirements requirements-dev; do \
	  $(VENV)/bin/pip-compile -q --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
	    -o $$f.lock $$f.txt; done

## ruff: lint and the formatter's check (`ruff format .` fixes the latter).
lint: $(VENV)/.test-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

setup: $(VENV)/.run-deps
	scripts/ensure-docker.sh
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0

## Run the web server and a build worker on SQLite (data in ./data).
run: setup
	@$(PY) manage.py ensureadmin
	HERALD_ALLOW_LOCAL_CLONES=$${HERALD_ALLOW_LOCAL_CLONES:-1} $(PY) manage.py serve

setup-test: $(VENV)/.test-deps
	scripts/bootstrap.sh test
	scripts/ensure-docker.sh

# The test runs' Docker objects are named test-…: a later run removes what a
# killed one left (tests/support.py, sweep_stale_test_objects).
test_instance = test-$$(printf %s '$(DATA)/$(1)' | md5sum | cut -c1-8)

## Lint, then the whole suite on SQLite and then on PostgreSQL (Docker and browser included).
test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory test-sqlite test-postgres

# A server that does not start stops the run here (never a half run on the
# wrong database).
test-sqlite: setup-test
	redis=$$(HERALD_DATA_DIR=$(DATA)/test-sqlite scripts/redis.sh start) && \
	HERALD_DATA_DIR=$(DATA)/test-sqlite HERALD_REDIS_URL= DATABASE_URL= \
	  HERALD_INSTANCE=$(call test_instance,test-sqlite) HERALD_TEST_REDIS_URL=$$redis \
	  $(PY) -m pytest -m "not postgres" $(PYTEST_ARGS)

# Browser tests drive the same pages whatever the database; they run once,
# above, as do the tests that lock or fill the SQLite file (marked sqlite)
# and the Docker Compose stack's (marked compose: it brings its own PostgreSQL).
test-postgres: setup-test
	pg=$$(HERALD_DATA_DIR=$(DATA)/test-postgres scripts/postgres.sh start) && \
	redis=$$(HERALD_DATA_DIR=$(DATA)/test-sqlite scripts/redis.sh start) && \
	HERALD_DATA_DIR=$(DATA)/test-postgres HERALD_REDIS_URL= DATABASE_URL=$$pg \
	  HERALD_INSTANCE=$(call test_instance,test-postgres) HERALD_TEST_REDIS_URL=$$redis \
	  $(PY) -m pytest -m "not browser and not sqlite and not compose" $(PYTEST_ARGS)

## Benchmarks: print figures, assert nothing.
bench: setup-test
	HERALD_DATA_DIR=$(DATA)/bench HERALD_INSTANCE=$(call test_instance,bench) $(PY) bench/run.py $(BENCH_ARGS)

clean:
	-HERALD_DATA_DIR=$(DATA)/test-postgres scripts/postgres.sh stop
	-HERALD_DATA_DIR=$(DATA)/test-sqlite scripts/redis.sh stop
	rm -rf $(DATA)/test-* $(DATA)/bench

## Refresh the README's screenshots (docs/screenshots/) from a real Herald.
screenshots: setup-test
	HERALD_DATA_DIR=$(DATA)/screenshots HERALD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots \
	  $(PY) -m pytest tests/browser/test_screenshots.py
