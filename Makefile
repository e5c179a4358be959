# Two entry points: `make run` (the pipeline, offline) and `make test`. Both set themselves up.
# `make push IN=events.jsonl` pushes your own events through the running twin; `make down` stops it.
#
# One Python version everywhere: the venv (tests, benchmark, twin, synth) runs the Lambda runtime's
# version, read from stacks/bundling.py. The interpreter is `python3.13` on PATH, else pyenv's
# 3.13.x; override with `make PYTHON=/path/to/python3.13` (it must still be 3.13).
PYTHON_VERSION := $(shell sed -n 's/^PYTHON_VERSION = "\([0-9.]*\)"$$/\1/p' stacks/bundling.py)
ifeq ($(PYTHON_VERSION),)
$(error cannot read PYTHON_VERSION from stacks/bundling.py)
endif
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1
# The value of a variable, as given (make does not expand a $ in it), as one shell word whatever it
# holds (spaces, quotes, braces, $): single-quoted, with each ' written as '\''
arg = '$(subst ','\'',$(value $(1)))'

.PHONY: run push down test bench synth deploy deploy-local venv cli clean contracts scrub python FORCE detectors forget export reveal query backfill redrive

# Prints an interpreter's major.minor (nothing if it does not run: pyenv shims exist for versions
# that are installed but not active, and fail when called).
VERSION_OF = "$(1)" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null

# Shell: sets $py to a working CPython $(PYTHON_VERSION), or fails saying how to get one.
define find_python
py="$(PYTHON)"; \
if [ -n "$$py" ]; then \
  v=$$($(call VERSION_OF,$$py)); \
  if [ "$$v" != "$(PYTHON_VERSION)" ]; then \
    echo "PYTHON=$$py $$(if [ -n "$$v" ]; then echo "is Python $$v"; else echo "does not run"; fi); it must be Python $(PYTHON_VERSION) (the Lambda runtime's version, stacks/bundling.py)" >&2; exit 1; \
  fi; \
else \
  root=$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}"); \
  for c in python$(PYTHON_VERSION) $$(ls -d "$$root"/versions/$(PYTHON_VERSION)*/bin/python$(PYTHON_VERSION) 2>/dev/null | sort -rV); do \
    if [ "$$($(call VERSION_OF,$$c))" = "$(PYTHON_VERSION)" ]; then py=$$c; break; fi; \
  done; \
  if [ -z "$$py" ]; then \
    echo "Python $(PYTHON_VERSION) not found (looked for python$(PYTHON_VERSION) on PATH and in $$root/versions/$(PYTHON_VERSION)*)." >&2; \
    echo "Install it with 'pyenv install $(PYTHON_VERSION)' or your OS package (python$(PYTHON_VERSION) and python$(PYTHON_VERSION)-venv)," >&2; \
    echo "or name one: make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; \
    exit 1; \
  fi; \
fi
endef

# A venv of another version (made before the switch to $(PYTHON_VERSION)) is rebuilt, not reused.
VENV_DEPS := pyproject.toml requirements.txt requirements-dev.txt lambdas/scrubber/requirements.txt lambdas/producer/requirements.txt lambdas/rights/requirements.txt lambdas/backfill/requirements.txt lambdas/quarantine/requirements.txt
ifneq ($(wildcard $(VENV)/.installed),)
ifneq ($(shell $(call VERSION_OF,$(PY))),$(PYTHON_VERSION))
VENV_DEPS += FORCE
endif
endif

$(VENV)/.installed: $(VENV_DEPS)
	@v=$$($(call VERSION_OF,$(PY))); \
	if [ "$$v" != "$(PYTHON_VERSION)" ]; then \
	  $(find_python); \
	  if [ -e $(VENV) ] || [ -L $(VENV) ]; then echo "$(VENV) $$(if [ -n "$$v" ]; then echo "is Python $$v"; else echo "has no working interpreter"; fi), not $(PYTHON_VERSION): recreating it"; rm -rf $(VENV); fi; \
	  echo "Creating $(VENV) with $$py (Python $(PYTHON_VERSION))"; \
	  "$$py" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
# the pins, and the project itself, editable (pyproject.toml): every command imports its packages by name.
# (setuptools warns that folders named like the packages could shadow them: here they are the packages.)
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $@

FORCE:

$(CDK): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

## The interpreter the venv is (or would be) made with
python:
	@$(find_python); echo "$$py"

venv: $(VENV)/.installed
cli: $(CDK)

## The pipeline end to end, offline, on a local cloud: a moto server on 127.0.0.1, port TWIN_PORT (default
## 4566), started if this checkout's is not running and left running (state in .twin/server.json). 10,000
## events; the lake accumulates from command to command; ./out holds a copy of the local lake.
## Configuration overrides as with cdk synth -c: make run CONTEXT='pipeline={"name_prefix": "demo"}'
## Ends with the AWS cost per million events of this configuration; RATE=<events/s> sets the rate it assumes (100)
COST_OPTS = $(if $(value RATE), --rate $(call arg,RATE))
run: venv
	$(PY) -m twin run --events 10000 --out out$(COST_OPTS) $(if $(value CONTEXT),-c $(call arg,CONTEXT))

## Your own events through the producer, then delivered with everything pending: make push IN=events.jsonl
## (one JSON object per line; split into requests within Lambda's 6 MB; ./out refreshed). DIRECT=1 puts them on
## the stream as they are, without the producer and its contract check (events of the default contract)
push: venv
	$(if $(value IN),,$(error usage: make push IN=events.jsonl [DIRECT=1] [RATE=events/s] [CONTEXT=...]))
	$(PY) -m twin push --out out$(if $(value DIRECT), --direct)$(COST_OPTS)$(if $(value CONTEXT), -c $(call arg,CONTEXT)) -- $(call arg,IN)

## Quarantined records back through the pipeline, once their cause is fixed (a contract added, say), against the
## running local cloud: make redrive [SINCE=2026-01-15] [UNTIL=2026-01-16T06:00:00Z] (error objects whose oldest
## record arrived in [SINCE, UNTIL): UTC days or ISO-8601 times with a zone; default: all). Runs the redrive
## function's handler, moves the redriven error objects aside, delivers everything pending; ./out refreshed
redrive: venv
	$(PY) -m twin redrive --out out$(if $(value SINCE), --since $(call arg,SINCE))$(if $(value UNTIL), --until $(call arg,UNTIL))$(if $(value CONTEXT), -c $(call arg,CONTEXT))

## Stop the local cloud: no process, no open port; its lake, keys and resources go with it
down:
	@if [ -x $(PY) ]; then $(PY) -m twin down; else echo "no $(VENV) yet: no twin server was started from this checkout"; fi

## A data subject's rights, against the running local cloud (`make run` first; the same CONTEXT as it):
##   make forget SUBJECT=<id>                     crypto-shred the subject's key; prints the erasure receipt
##   make export SUBJECT=<id> [OUT=file]          their records, decrypted, as JSON lines (stdout, or OUT, owner-only)
##   make reveal PURPOSE=<name> [OUT=dir]         every record with the purpose's fields opened for the subjects who
##                                                consented to it (one JSON-lines file per lake object under OUT, or stdout)
## FROM=YYYY-MM-DD [TO=YYYY-MM-DD] limit export and reveal to the lake's partitions of those days (UTC).
## FINDER=athena|scan: how export finds the subject's objects (default: query.export_finder, athena; offline
## that is DuckDB over ./out searching their key link, as Athena does deployed; scan reads every object).
## The subject id goes to the command on its standard input (not in its arguments), and is never printed.
RIGHTS_OPTS = $(if $(value FROM), --from $(call arg,FROM))$(if $(value TO), --to $(call arg,TO))$(if $(value CONTEXT), -c $(call arg,CONTEXT))

## make drops the blanks that lead a command-line value (SUBJECT=" x" arrives as "x"): the id would
## name another subject, and a forget cannot be undone. Refused, from make's own arguments (Linux's
## /proc; where it is missing, nothing is checked): such an id goes on standard input to the tool.
no_leading_blank = @if tr '\0' '\n' < /proc/$$PPID/cmdline 2>/dev/null | grep -qE '^$(1)[[:space:]]*(:{1,3}|[?+!])?=([[:space:]]|$$)'; then \
	echo "error: $(1) starts with a blank, which make drops (it would name another subject); nothing was done." \
	"Give such an id on standard input: printf '%s' '<id>' | $(PY) -m tools.rights $(2) -" >&2; exit 2; fi

forget: venv
	$(if $(value SUBJECT),,$(error usage: make forget SUBJECT=<id> [CONTEXT=...]))
	$(call no_leading_blank,SUBJECT,forget)
	@printf '%s' $(call arg,SUBJECT) | $(PY) -m tools.rights forget$(if $(value CONTEXT), -c $(call arg,CONTEXT)) -

export: venv
	$(if $(value SUBJECT),,$(error usage: make export SUBJECT=<id> [OUT=file] [FROM=YYYY-MM-DD] [TO=YYYY-MM-DD] [FINDER=athena|scan] [CONTEXT=...]))
	$(call no_leading_blank,SUBJECT,export)
	@printf '%s' $(call arg,SUBJECT) | $(PY) -m tools.rights export$(RIGHTS_OPTS)$(if $(value OUT), --output $(call arg,OUT))$(if $(value FINDER), --finder $(call arg,FINDER)) -

reveal: venv
	$(if $(value PURPOSE),,$(error usage: make reveal PURPOSE=<name> [OUT=dir] [FROM=YYYY-MM-DD] [TO=YYYY-MM-DD] [CONTEXT=...]))
	@$(PY) -m tools.rights reveal$(RIGHTS_OPTS)$(if $(value OUT), --output-dir $(call arg,OUT)) -- $(call arg,PURPOSE)

## SQL over ./out (the local copy of the lake) with DuckDB: make query SQL="select event_type, count(*) from events group by 1"
## Views: events (every delivered record), one per event type, quarantine (error metadata, no raw data);
## columns declared from the contracts (the same CONTEXT as the make run that wrote ./out)
query: venv
	$(if $(value SQL),,$(error usage: make query SQL="select ... from events" [CONTEXT=...]))
	@$(PY) -m tools.query --out out$(if $(value CONTEXT), -c $(call arg,CONTEXT)) -- $(call arg,SQL)

## The test suite: unit, integration (moto) and infrastructure (CDK assertions + cdk-nag), in a random
## order (the seed is printed; replay it with .venv/bin/python -m pytest -n 2 --randomly-seed=<seed>)
test: venv cli
	$(PY) -m pytest -n 2

## Benchmarks (not part of the tests)
bench: venv
	@rc=0; $(PY) -m bench || rc=$$?; $(PY) -m bench.keys || rc=$$?; exit $$rc

## Free-text detectors: recall on 10,000 generated values per detector, false positives on ordinary numbers
detectors: venv
	$(PY) -m tools.detector_corpus

## Validate the data contracts
contracts: venv
	$(PY) -m tools.contracts validate

## Scrub a JSON-lines file in batch mode: make scrub IN=events.jsonl [OUT=scrubbed.jsonl] KEYRING=keys.json
scrub: venv
	$(if $(value IN),,$(error usage: make scrub IN=events.jsonl [OUT=scrubbed.jsonl] KEYRING=keys.json [SUBJECT_KEYS=table ROOT_KEY=key | REDACT_ENCRYPTED=1]))
	$(PY) -m tools.contracts scrub $(call arg,IN) $(if $(value OUT),--output $(call arg,OUT)) $(if $(value KEYRING),--keyring $(call arg,KEYRING)) \
	  $(if $(value SUBJECT_KEYS),--subject-keys $(call arg,SUBJECT_KEYS)) $(if $(value ROOT_KEY),--root-key $(call arg,ROOT_KEY)) \
	  $(if $(value REDACT_ENCRYPTED),--redact-encrypted)

## A lake-scale backfill, offline: an S3 Batch Operations job (emulated on the local cloud) that runs the deployed
## backfill function's handler once per object: make backfill SRC=<JSON-lines file, folder, or s3://bucket/prefix/>
## (files uploaded to the backfill bucket first; records partitioned by event time; ./out refreshed for make query)
backfill: venv
	$(if $(value SRC),,$(error usage: make backfill SRC=<file|folder|s3://bucket/prefix/> [CONTEXT=...]))
	$(PY) -m tools.backfill --out out$(if $(value CONTEXT), -c $(call arg,CONTEXT)) -- $(call arg,SRC)

## CloudFormation, with Lambda dependencies bundled locally (no Docker, no credentials)
synth: venv cli
	$(CDK) synth --quiet$(if $(value CONTEXT), -c $(call arg,CONTEXT))

deploy: venv cli
	$(CDK) deploy --all$(if $(value CONTEXT), -c $(call arg,CONTEXT))

## Deploy rehearsal: the pinned CDK CLI's `cdk bootstrap` and `cdk deploy` against the local cloud (started
## if not running, as `make run` does), under the name prefix PREFIX (default rehearsal, apart from the twin's
## resources); prints what moto skipped, checks the stack's outputs and every resource moto created
deploy-local: venv cli
	$(PY) -m tools.deploy_local$(if $(value PREFIX), --prefix $(call arg,PREFIX))$(if $(value CONTEXT), -c $(call arg,CONTEXT))

clean:
	rm -rf cdk.out out .pytest_cache .hypothesis
