# Folio: `make run` runs the product, `make test` runs the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
export FLASK_APP := wsgi:app

.PHONY: run test soak bench bench-coverage bench-cluster clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m webapp.run

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# the load test at full size: 500 logged-in users polling every 10 s for 60 s during a cycle
soak: $(VENV)/.installed
	LOAD_USERS=500 LOAD_SECONDS=60 LOAD_POLL_SECONDS=10 $(PY) -m pytest -s tests/test_processes.py -k polling

# the benchmarks (bench/, results in bench/RESULTS.md): DATABASE_URL picks PostgreSQL
USERS ?= 100000
SYMBOLS ?= 10000
HOLDINGS_PER_USER ?= 10
bench: $(VENV)/.installed
	@command -v wrk >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; }; }; } || \
	  echo "wrk could not be installed: the bounded Python load generator is used instead"
	$(PY) -m bench --users $(USERS) --symbols $(SYMBOLS) --holdings-per-user $(HOLDINGS_PER_USER) $(BENCH_ARGS)
	$(PY) -m bench.csv_import
	$(PY) -m bench.coverage
	$(PY) -m bench.ledger
	$(PY) -m bench.alerts
	$(PY) -m bench.cluster

# price coverage alone: 250 users, 1,000 instruments, the free providers' limits, 6 cycles
bench-coverage: $(VENV)/.installed
	$(PY) -m bench.coverage

clean:
	rm -rf $(VENV) instance/*.sqlite3 .pytest_cache

# 2 web + 3 workers + 2 schedulers behind a proxy, 500 pollers, a web and a worker killed mid-cycle
bench-cluster: $(VENV)/.installed
	$(PY) -m bench.cluster $(CLUSTER_ARGS)
