# borderwatch: `make run` starts the stack and shows the alerts of the bundled sample;
# `make test` runs the whole test suite. Both set everything up first and are safe to re-run.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# The interpreter of .venv: Debian's CPython 3.11 when it is there (built with profile-guided and
# link-time optimisation; the tagger runs about 7% faster on it than on a plain source build such
# as pyenv's), else python3 from PATH. `make PYTHON=...` picks another; .venv is rebuilt when the
# choice changes (.venv/base-python records it).
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV := .venv
PY := $(VENV)/bin/python
BW := $(VENV)/bin/borderwatch
STAMP := $(VENV)/.installed

.PHONY: help setup venv native run stop status test lint unit schemas bench eval monitor

help:
	@echo "make run     set up, start Kafka, Redis and the services, replay samples/, show the alerts"
	@echo "make stop    stop the services, Redis and Kafka started by make run"
	@echo "make test    set up and run the whole test suite (lint included)"
	@echo "make lint    ruff and mypy"
	@echo "make native  compile the tagging core with mypyc (part of setup; skipped when up to date)"
	@echo "make schemas regenerate schemas/jsonschema/ from the models"
	@echo "make bench   run every benchmark (under 10 minutes); report in var/bench/"
	@echo "make monitor start a local Prometheus scraping the services (make stop stops it)"
	@echo "make eval    score the classifier on the labelled development set (../shared/eval/dev.jsonl)"

$(STAMP): requirements.lock pyproject.toml $(VENV)/base-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# Always checked: a .venv made by another interpreter is removed and made again.
$(VENV)/base-python: FORCE
	@if [ "$$(cat $@ 2>/dev/null)" != "$(PYTHON)" ]; then \
		if [ -e $(VENV) ]; then echo "venv: $(VENV) was made with another Python; making it again with $(PYTHON)"; fi; \
		rm -rf $(VENV) && mkdir -p $(VENV) && echo "$(PYTHON)" > $@; \
	fi

FORCE:

# The compiled tagging core; the script skips the build when sources and tools are unchanged
# and fails loudly when the build fails.
native: venv
	PY=$(PY) scripts/build_native.sh

setup: venv native
	scripts/kafka.sh setup
	scripts/redis.sh setup
	scripts/prometheus.sh setup

run: setup
	scripts/kafka.sh start
	scripts/redis.sh start
	scripts/services.sh start
	$(BW) demo samples/items.jsonl
	@echo "The stack is still running: 'make stop' stops it; logs are in var/log/ and var/kafka/logs/."

stop:
	-scripts/prometheus.sh stop
	-scripts/services.sh stop
	-scripts/redis.sh stop
	-scripts/kafka.sh stop

status:
	-scripts/services.sh status
	-scripts/prometheus.sh status
	-scripts/redis.sh status
	-scripts/kafka.sh status

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: native
	$(PY) -m pytest tests/unit

# The test session finds Kafka and Redis, or starts them and stops them again (tests/services.py).
test: setup lint
	$(PY) -m pytest

schemas: venv
	$(PY) -m schemas.export

# The labelled development set sits next to the repository (../shared/eval/dev.jsonl).
EVAL_SET ?= ../shared/eval/dev.jsonl
eval: native
	@test -f $(EVAL_SET) || { echo "error: $(EVAL_SET) not found: the labelled development set is expected next to the repository (set EVAL_SET=FILE)" >&2; exit 2; }
	$(BW) eval $(EVAL_SET) --errors

# A local Prometheus scraping the services of `make run`, with the alerting rules (http://127.0.0.1:9090).
monitor: setup
	scripts/prometheus.sh start

bench: setup
	$(PY) -m bench.run_all
