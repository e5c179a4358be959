# Two entry points: `make run` (the pipeline, offline) and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test bench synth deploy venv cli clean contracts scrub detectors

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/scrubber/requirements.txt lambdas/producer/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CDK): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

venv: $(VENV)/.installed
cli: $(CDK)

## The pipeline end to end, offline, on moto: 10,000 events; delivered files land in ./out
run: venv
	$(PY) -m twin --events 10000 --out out

## The test suite: unit, integration (moto) and infrastructure (CDK assertions + cdk-nag)
test: venv cli
	$(PY) -m pytest -n 2 -q

## Benchmarks (not part of the tests)
bench: venv
	$(PY) -m bench

## Free-text detectors: recall on 10,000 generated values per detector, false positives on ordinary numbers
detectors: venv
	$(PY) -m tools.detector_corpus

## Validate the data contracts
contracts: venv
	$(PY) -m tools.contracts validate

## Scrub a JSON-lines file in batch mode: make scrub IN=events.jsonl KEYRING=keys.json
scrub: venv
	$(PY) -m tools.contracts scrub $(IN) $(if $(KEYRING),--keyring $(KEYRING))

## CloudFormation, with Lambda dependencies bundled locally (no Docker, no credentials)
synth: venv cli
	$(CDK) synth --quiet

deploy: venv cli
	$(CDK) deploy --all

clean:
	rm -rf cdk.out out .pytest_cache .hypothesis
