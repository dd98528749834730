# Two commands matter: `make run` and `make test`. Everything they need is
# installed on first use (virtualenv in .venv, Kafka jars in .local/kafka/libs).

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
KAFKA_LIBS := .local/kafka/libs
KAFKA_STAMP := $(KAFKA_LIBS)/.complete
PHYSIONET ?= ../shared/data/physionet2019
# Out-of-fold predictions of the committed risk model on set A (written by `make train`, read by `make eval`).
RISK_OOF := evaluation/data/risk_model_oof_set_a.npz
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: help install kafka-jars kafka-up kafka-down topics test test-fast run bench lint eval train transfer docs clean

help:
	@echo "make run        start Kafka, the workers and a local pager receiver; replay real ICU data"
	@echo "make test       install what is missing and run the whole test suite on a real broker"
	@echo "make bench      run the benchmarks, write .bench/results.json"
	@echo "make eval       evaluate the alert rules on PhysioNet 2019 set A (writes out/eval)"
	@echo "make train      train the learned risk model on set A"
	@echo "make transfer   check how the learned model travels (splits of set A by unit and care pathway)"
	@echo "make lint       ruff, and mypy --strict on the packages listed in STRICT_TYPED"
	@echo "make kafka-up / kafka-down   a developer broker with data under .local/"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,train]'
	@touch $(STAMP)

install: $(STAMP) $(KAFKA_STAMP) $(CHROMEDRIVER)

# The console's browser tests drive Debian's Chromium (never a browser downloaded from elsewhere).
$(CHROMEDRIVER):
	@if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium chromium-driver || \
	    { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; \
	else echo "the browser tests need $(CHROMEDRIVER): run 'sudo apt-get install -y chromium chromium-driver'"; fi

$(KAFKA_STAMP): deploy/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required to fetch the Kafka jars"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17+ is required to run the Kafka broker"; exit 1; }
	rm -rf $(KAFKA_LIBS) && mkdir -p $(KAFKA_LIBS)
	mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies \
	    -DoutputDirectory=$(abspath $(KAFKA_LIBS)) -DincludeScope=runtime
	@touch $(KAFKA_STAMP)

kafka-jars: $(KAFKA_STAMP)

kafka-up: install
	$(PY) -m devstack.broker_cli up --data-dir .local/kafka/dev

kafka-down: $(STAMP)
	$(PY) -m devstack.broker_cli down --data-dir .local/kafka/dev

topics: install
	$(VENV)/bin/sepsis-alert topics create

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q tests -m "not integration"

run: install
	$(VENV)/bin/sepsis-alert run --physionet $(PHYSIONET)

bench: install
	$(PY) -m benchmarks.run --out .bench/results.json

eval: install
	$(VENV)/bin/sepsis-alert eval physionet $(PHYSIONET) --out out/eval --predictions $(RISK_OOF)

train: install
	$(VENV)/bin/sepsis-alert train physionet $(PHYSIONET) --out detector/models/risk_model.json --oof $(RISK_OOF)

transfer: $(STAMP) ; $(PY) -m learning.transfer $(PHYSIONET) --out out/transfer.json --markdown out/transfer.md

docs: $(STAMP)
	$(PY) -m sepsis_alert.config_reference --write

# mypy --strict (settings in pyproject.toml) on all non-test code: every package (issue 19: learning and benchmarks
# were the last to join). Not listed: tests, and the standalone deploy/scripts/build_dashboard.py.
STRICT_TYPED := sepsis_alert ingest schemas devstack detector notifier evaluation learning benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict $(STRICT_TYPED)

clean:
	-test -x $(PY) && $(PY) -m devstack.broker_cli down --data-dir .local/kafka/dev
	rm -rf .local/kafka/dev .bench out
