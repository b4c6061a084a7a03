# amlflow: `make demo` runs the example pipeline on a local Airflow; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install test lint format demo stop benchmarks clean

$(INSTALLED): setup.cfg setup.py pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(INSTALLED)

# Azurite (the Azure Storage emulator the blob tests start) comes from npm, pinned in package-lock.json.
NODE_MODULES := node_modules/.installed
$(NODE_MODULES): package.json package-lock.json
	command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Docker tests' engine (Debian's docker.io), debootstrap and docker-compose, where missing.
.PHONY: docker-tools
docker-tools:
	sh scripts/ensure_docker.sh

# PostgreSQL (Debian's postgresql) for the SQL datastore tests, where missing; the tests start their own server.
.PHONY: postgres-tools
postgres-tools:
	sh scripts/ensure_postgres.sh

# Redis (Debian's redis-server) for the CeleryExecutor tests, where missing; the tests start their own server.
.PHONY: redis-tools
redis-tools:
	sh scripts/ensure_redis.sh

# Headless Chromium and chromedriver (Debian's chromium, chromium-driver) for the pipeline view's browser tests.
.PHONY: chromium-tools
chromium-tools:
	sh scripts/ensure_chromium.sh

test: install $(NODE_MODULES) docker-tools postgres-tools redis-tools chromium-tools
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: install
	$(BIN)/python scripts/demo.py

stop:
	$(PYTHON) scripts/stop.py

benchmarks: install
	$(BIN)/python benchmarks/step_overhead.py

clean: stop
	rm -rf $(VENV) .airflow .demo
