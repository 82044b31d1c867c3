# Rollcall: the user's and CI's only entry points. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Lambda's runtime is python3.12. With pyenv, python3.12 resolves only when 3.12 is in PYENV_VERSION;
# `sam build` looks for python3.12 on PATH too, and finds the venv's (below) first.
export PYENV_VERSION ?= 3.12.1:3.11.7
PYTHON312 ?= $(shell command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)

VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-dev.txt shared/requirements.txt layers/*/requirements.txt | cksum | cut -d' ' -f1)
BUILT := .aws-sam/build/template.yaml
# The local DynamoDB (dynalite, npm): installed from local/emulator/package-lock.json.
NODE_STAMP := local/emulator/node_modules/.installed-$(shell cat local/emulator/package-lock.json | cksum | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# testkit/ (synthetic worlds, seeding) is at the top: on the path of tests, bench and local commands only.
export PYTHONPATH := $(CURDIR)/shared:$(CURDIR)/local:$(CURDIR)
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_CONTEXT_SETTINGS_MANAGER_NO_WARN := 1

# Parameters of the targets below (override on the command line).
FN ?=
EVENT ?=
SCHEDULE ?=
ROLE ?= teacher
ORG ?= demo
SUB ?= alice
FILE ?=
UNTIL ?=
PHOTOS ?= ../shared/data/faces
STUDENTS ?= 300
WEEKS ?= 16
SEED ?= 7
PYTEST_ARGS ?=
# Coverage of shared/ and local/ with the floor of pyproject.toml; `COVERAGE=` runs a part without it.
COVERAGE ?= --cov --cov-report=term-missing:skip-covered

.PHONY: help install build validate run serve demo test unit lint fmt bench invoke fire token reset deploy import seed train clean metrics

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP):
	@test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv install 3.12 or put python3.12 on PATH)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<81" wheel
	$(PY) -m pip install --quiet -e ".[dev,ml,face]"
	@# face_recognition is the benchmarks' reference only; --no-deps keeps pip from compiling dlib.
	$(PY) -m pip install --quiet --no-deps face-recognition==1.3.0
	@rm -f $(VENV)/.installed-*
	@touch $@

$(NODE_STAMP): local/emulator/package.json local/emulator/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20 (the local DynamoDB runs on it)"; exit 1; }
	cd local/emulator && npm ci --no-audit --no-fund --loglevel=error
	@rm -f local/emulator/node_modules/.installed-*
	@touch $@

install: $(STAMP) $(NODE_STAMP)  ## create the venv (python3.12) and install everything

$(BUILT): $(STAMP) template.yaml samconfig.toml $(shell find functions shared layers -type f -not -path '*/__pycache__/*') | $(NODE_STAMP)
	sam build --config-env local 2>&1 | tee .aws-sam-build.log
	@! grep -iE '^(warning|.*\bwarn(ing)?:)' .aws-sam-build.log || { echo "sam build printed warnings"; exit 1; }
	@rm -f .aws-sam-build.log
	@touch $@

build: $(BUILT)  ## sam build (cached): functions and layers into .aws-sam/build

validate: $(STAMP)  ## sam validate --lint
	sam validate --lint --config-env local

serve: $(BUILT)  ## start the local stack from the current build (no install step)
	$(PY) -m rollcall_local run

run: validate serve  ## install, build and start the local stack: embedded AWS, API on :3000, queues, schedules

demo: $(BUILT)  ## enrol the people in PHOTOS and mark the group photos through the local API
	$(PY) -m rollcall_local demo --photos "$(PHOTOS)"

test: validate $(BUILT)  ## install what the tests need and run the whole suite (coverage floor in pyproject.toml)
	$(PY) -m pytest $(COVERAGE) $(PYTEST_ARGS)

unit: $(STAMP)  ## unit tests only (no network)
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

lint: validate $(BUILT)  ## ruff, mypy, the import layering, sam validate --lint, sam build
	ruff check .
	ruff format --check .
	mypy
	lint-imports

fmt: $(STAMP)  ## format and fix what ruff can
	ruff format .
	ruff check --fix .

bench: $(BUILT)  ## benchmarks, side by side with their references; writes BENCHMARKS.md
	$(PY) -m bench

invoke: $(BUILT)  ## one invocation in a fresh process: make invoke FN=<LogicalId> EVENT=events/<file>.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json"; exit 2; }
	$(PY) -m rollcall_local invoke "$(FN)" --event "$(EVENT)"

fire: $(BUILT)  ## fire a schedule now: make fire SCHEDULE=<LogicalId>
	@test -n "$(SCHEDULE)" || { echo "usage: make fire SCHEDULE=<LogicalId> (make fire SCHEDULE=list lists them)"; exit 2; }
	$(PY) -m rollcall_local fire "$(SCHEDULE)"

token: $(STAMP)  ## print a dev token: make token ROLE=teacher ORG=demo SUB=alice
	@$(PY) -m rollcall_local token --role "$(ROLE)" --org "$(ORG)" --sub "$(SUB)"

reset: $(STAMP)  ## forget the local stack's saved state (.local/state)
	$(PY) -m rollcall_local reset

import: $(BUILT)  ## import attendance from a CSV: make import FILE=attendance.csv ORG=demo
	@test -n "$(FILE)" || { echo "usage: make import FILE=<csv> ORG=<org>"; exit 2; }
	$(PY) -m rollcall_local import --file "$(FILE)" --org "$(ORG)"

seed: $(BUILT)  ## synthetic history: make seed ORG=demo STUDENTS=300 WEEKS=16 SEED=7
	$(PY) -m rollcall_local seed --org "$(ORG)" --students "$(STUDENTS)" --weeks "$(WEEKS)" --seed "$(SEED)"

train: $(BUILT)  ## a training job now, through the built train function: make train ORG=demo [UNTIL=2026-03-02]
	$(PY) -m rollcall_local train --org "$(ORG)" $(if $(UNTIL),--until "$(UNTIL)")

deploy: $(STAMP)  ## sam deploy to AWS: make deploy JWKS_URL=... JWT_ISSUER=... JWT_AUDIENCE=...
	@test -n "$(JWKS_URL)" -a -n "$(JWT_ISSUER)" || { echo "set JWKS_URL and JWT_ISSUER (and JWT_AUDIENCE) of your token issuer"; exit 2; }
	sam build --config-env prod
	sam deploy --config-env prod --parameter-overrides \
		Stage=prod JwksUrl="$(JWKS_URL)" JwtIssuer="$(JWT_ISSUER)" JwtAudience="$(or $(JWT_AUDIENCE),rollcall-api)" \
		AlarmEmail="$(ALARM_EMAIL)" SmokeTokenParameter="$(SMOKE_TOKEN_PARAMETER)"

clean:  ## remove the venv, the build and the local state
	rm -rf $(VENV) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache

metrics: $(STAMP)  ## the EMF metrics of the local stack's invocations (last hour): count, p50, p95, and .local/metrics.png
	$(PY) -m rollcall_local metrics
