# Every target sets up what it needs (virtualenv, Python packages, Kafka jars, Debian packages),
# idempotently: a second run reuses what the first one installed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
CLI       := $(VENV)/bin/kpi-pipeline
DEPS_HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
PY_STAMP  := $(VENV)/.installed-$(DEPS_HASH)
KAFKA_DIR := .cache/kafka
KAFKA_STAMP := $(KAFKA_DIR)/libs/.complete-$(shell cat deploy/kafka/pom.xml 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: help setup demo test test-unit test-integration test-uci soak lint typecheck format generate check-generated kafka-start kafka-stop bench-replay bench-uci clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: $(PY_STAMP) $(KAFKA_STAMP) system-packages  ## install everything the demo and the tests need (cached)

$(PY_STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (log: $(VENV)/pip.log)"
	@$(PY) -m pip install --disable-pip-version-check --upgrade pip > $(VENV)/pip.log 2>&1 \
	  && $(PY) -m pip install --disable-pip-version-check -e '.[dev]' >> $(VENV)/pip.log 2>&1 \
	  || { tail -40 $(VENV)/pip.log; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

$(KAFKA_STAMP): deploy/kafka/pom.xml
	@echo "downloading Apache Kafka jars into $(KAFKA_DIR)/libs"
	@mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(KAFKA_DIR))/libs
	@rm -f $(KAFKA_DIR)/libs/.complete-* && touch $@

.PHONY: system-packages
system-packages:  ## Debian packages: prometheus, promtool, alertmanager, kcat (skipped when present)
	@bash deploy/install-system-packages.sh

demo: setup  ## live demo: local Kafka, worker, Prometheus, Alertmanager, simulator with an injected regression
	$(CLI) demo

test: setup lint typecheck check-generated  ## the whole test run: lint, types, generated files, unit and integration tests
	$(PY) -m pytest -q

test-unit: setup  ## unit tests only (no broker)
	$(PY) -m pytest -q tests/unit

test-integration: setup  ## integration tests only (starts its own broker)
	$(PY) -m pytest -q tests/integration

test-uci: setup  ## the UCI incident log tests on the whole file, not a subset (minutes)
	KPI_TEST_UCI_FULL=1 $(PY) -m pytest -q -s tests/integration/test_import_uci.py tests/integration/test_replay_uci.py

soak: setup  ## long fault runs on a real broker (SIGKILLs during 200,000+ events); results go in SOAK.md
	$(PY) -m pytest -q -s -m soak -p no:cacheprovider tests/integration/test_crash_recovery.py

lint: $(PY_STAMP)  ## ruff lint and format check
	$(VENV)/bin/ruff check pipeline tests bench
	$(VENV)/bin/ruff format --check pipeline tests bench

format: $(PY_STAMP)  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix pipeline tests bench
	$(VENV)/bin/ruff format pipeline tests bench

typecheck: $(PY_STAMP)  ## mypy (strict) on the package
	$(VENV)/bin/mypy

generate: $(PY_STAMP)  ## regenerate generated files (JSON Schemas, Grafana dashboards, budget rules)
	$(CLI) schemas generate
	$(CLI) dashboards generate
	$(CLI) rules generate

check-generated: $(PY_STAMP)  ## fail when a generated file drifts from its source
	$(CLI) schemas check
	$(CLI) dashboards check
	$(CLI) rules check

BENCH_STAMP := $(VENV)/.bench-$(DEPS_HASH)
PEER_VENV   := .cache/bench-quix
PEER_STAMP  := $(PEER_VENV)/.installed-$(shell cat bench/peer-requirements.txt | sha1sum | cut -c1-12)

$(BENCH_STAMP): $(PY_STAMP)
	@$(PY) -m pip install --disable-pip-version-check -q -e '.[bench]' && touch $@

$(PEER_STAMP): bench/peer-requirements.txt
	@echo "installing the Quix Streams peer into $(PEER_VENV)"
	@test -x $(PEER_VENV)/bin/python || python3 -m venv $(PEER_VENV)
	@$(PEER_VENV)/bin/pip install --disable-pip-version-check -q -r bench/peer-requirements.txt
	@rm -f $(PEER_VENV)/.installed-* && touch $@

.PHONY: bench bench-quick
bench: setup $(BENCH_STAMP) $(PEER_STAMP)  ## benchmarks (1M records, ~30 min): limit, worker, replay, Quix peer, latency, RSS
	nice -n 5 $(PY) -m bench --label full --out bench/results/full.json

bench-quick: setup $(BENCH_STAMP) $(PEER_STAMP)  ## the benchmarks on 100k records, for iteration (~10 min)
	nice -n 5 $(PY) -m bench --events 100000 --latency-seconds 60 --label quick --out bench/results/quick.json

kafka-start: $(PY_STAMP) $(KAFKA_STAMP)  ## start a local single-node KRaft broker on 127.0.0.1:9092
	$(CLI) kafka start

kafka-stop: $(PY_STAMP)  ## stop the local broker
	$(CLI) kafka stop

bench-replay: setup  ## replay rate on simulated streams of known size (local broker on free ports)
	$(PY) -m tests.bench.replay_rate --days 1 --tickets-per-hour 60
	$(PY) -m tests.bench.replay_rate --days 28 --tickets-per-hour 25 --windows 24h,7d=7d/1d --breakdowns all,service

bench-uci: setup  ## import and replay times of the whole UCI incident log, peak RSS (minutes)
	$(PY) -m tests.bench.uci_replay

clean:  ## remove the virtualenv, caches and local broker data
	rm -rf $(VENV) .cache var .mypy_cache .ruff_cache .pytest_cache
