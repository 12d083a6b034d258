# Two set-up commands for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install java rsyslog demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py src/escudo/sources/_scan.c src/escudo/sources/_auditd.c src/escudo/sources/_sysmon.c
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

# Spark (the spark extra) needs Java 17 or later: installed from Debian's packages when missing.
java:
	@sh scripts/ensure_java.sh

# The watch inputs' tests run a real rsyslogd and journal tools: installed when missing.
rsyslog:
	@sh scripts/ensure_rsyslog.sh

install: $(STAMP)

demo: install
	@sh scripts/demo.sh

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install java rsyslog
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
