# Two entry points: `make run` (the pipeline, offline) and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1
# The value of a variable, as given (make does not expand a $ in it), as one shell word whatever it
# holds (spaces, quotes, braces, $): single-quoted, with each ' written as '\''
arg = '$(subst ','\'',$(value $(1)))'

.PHONY: run test bench synth deploy venv cli clean contracts scrub

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

## The pipeline end to end, offline, on moto: 10,000 events; ./out holds the delivered files of this run
## Configuration overrides as with cdk synth -c: make run CONTEXT='pipeline={"name_prefix": "demo"}'
run: venv
	$(PY) -m twin --events 10000 --out out $(if $(value CONTEXT),-c $(call arg,CONTEXT))

## The test suite: unit, integration (moto) and infrastructure (CDK assertions + cdk-nag)
test: venv cli
	$(PY) -m pytest -n 2 -q

## Benchmarks (not part of the tests)
bench: venv
	$(PY) -m bench

## Validate the data contracts
contracts: venv
	$(PY) -m tools.contracts validate

## Scrub a JSON-lines file in batch mode: make scrub IN=events.jsonl [OUT=scrubbed.jsonl] KEYRING=keys.json
scrub: venv
	$(if $(value IN),,$(error usage: make scrub IN=events.jsonl [OUT=scrubbed.jsonl] KEYRING=keys.json))
	$(PY) -m tools.contracts scrub $(call arg,IN) $(if $(value OUT),--output $(call arg,OUT)) $(if $(value KEYRING),--keyring $(call arg,KEYRING))

## CloudFormation, with Lambda dependencies bundled locally (no Docker, no credentials)
synth: venv cli
	$(CDK) synth --quiet

deploy: venv cli
	$(CDK) deploy --all

clean:
	rm -rf cdk.out out .pytest_cache .hypothesis
