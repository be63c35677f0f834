# Folio: `make run` runs the product, `make test` runs the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
export FLASK_APP := wsgi:app

.PHONY: run test clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m webapp.run

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3 .pytest_cache
