# emitrun — `make run` serves the app on its embedded default; `make test` runs the suite
# against PostgreSQL and Redis (DATABASE_URL / REDIS_URL, defaults below).

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/emitrun
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# Parallel test workers (pytest-xdist); each gets its own test database.
TEST_WORKERS ?= auto

.PHONY: install run test test-unit test-browser test-chaos test-prod prod lint format migrate clean bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

# The app on its embedded default (SQLite, in-memory channel layer, Celery on the
# filesystem transport) unless DATABASE_URL / REDIS_URL are set: web, Celery worker and beat
# together (Procfile, run by honcho). A fresh database gets a demo organization, space,
# login and token. Development only: webhooks to 127.0.0.1 and private hosts are allowed.
run: migrate
	$(PY) manage.py seeddemo
	mkdir -p $${EMITRUN_DATA_DIR:-db}/celery/control
	DEBUG=$${DEBUG:-true} EMITRUN_ALLOW_PRIVATE_WEBHOOKS=$${EMITRUN_ALLOW_PRIVATE_WEBHOOKS:-true} \
		EMITRUN_DATA_DIR=$${EMITRUN_DATA_DIR:-db} EMITRUN_PY=$(PY) EMITRUN_BIND=$(HOST):$(PORT) \
		$(VENV)/bin/honcho start -f Procfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-unit: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -n $(TEST_WORKERS) -m "not browser and not chaos and not prod" -q

test: lint test-unit

# The dashboard in a real browser (Debian's Chromium at /usr/bin/chromium, driven by
# Playwright): its own pytest run, one process. Screenshots land in tests/artifacts/.
test-browser: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -p no:xdist -m browser tests/browser -q

# The production layout on this machine (docs/deploy.md): 2 nodes (gunicorn + uvicorn each)
# behind nginx, 2 Celery workers, 1 beat, on PostgreSQL and Redis. Ctrl-C stops it.
prod: install
	$(PY) scripts/prod.py

# That layout under test, with real processes: its own stage, one pytest process.
test-prod: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -p no:xdist -m prod tests/prod -q

# Fault injection with real processes (docs/reliability.md): its own stage, one pytest run.
# Private PostgreSQL clusters and Redis servers are started on ports 5544x / 1639x, never
# the shared ones; the figures in docs/reliability.md are what these tests assert.
test-chaos: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest -n 2 -m chaos tests/chaos -q

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) db staticfiles

# Benchmarks (not part of `make test`): its own virtualenv with the peers and profilers,
# its own database (emitrun_bench) and Redis db 5. Results: bench/results/ (latest.md,
# and <stamp>.json, git-ignored). BENCH_ARGS=--quick for a short run.
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?=

$(BENCH_VENV)/.installed: requirements.txt requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q -r requirements.txt -r requirements-bench.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)
