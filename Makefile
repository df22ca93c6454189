# Engine Foundry: each target is one command into the Python CLI (`python -m builder <command>`) or pytest.
# The logic lives in tested Python (builder/host/*); `make help` lists the targets.
# Set-up: every target first runs scripts/setup-env, which makes .venv with the pinned host packages (or, for test,
# test-gpu and bench, the dev packages) on first use and is a no-op once done. `make … PYTHON=python3` uses that
# Python as it is instead (no .venv, no set-up).

VENV       ?= .venv
# PYTHON is not taken from the environment: only `make … PYTHON=…` overrides it.
PYTHON      = $(VENV)/bin/python
PROFILE    ?= cpu-fp32-shapes
PROFILES   ?=
FLAVOUR    ?= cpu
ARTIFACT   ?= artifacts/$(PROFILE)
MIRROR     ?=
PYTEST_ARGS ?=
ADDRESS    ?=
FARM       ?=
SIGN_KEY   ?=
TRUSTED_KEY ?=
SELECT     ?=
EXTRACT    ?=
FARM_RUN   ?=

.DEFAULT_GOAL := help
.PHONY: help image engine engines farm validate verify shell pin offline-base test test-all lint test-gpu bench nightly \
	bundle clean \
	venv-host venv-verify venv-dev

# The set-up runs only when PYTHON is the venv's Python.
venv-host venv-verify venv-dev:
	$(if $(filter $(VENV)/bin/python,$(PYTHON)),@scripts/setup-env $(@:venv-%=%) $(VENV))

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

image: venv-host ## build the builder image: make image FLAVOUR=cpu|trt|trt10
	$(PYTHON) -m builder image --flavour $(FLAVOUR)

engine: venv-host ## build one profile in its container: make engine PROFILE=cpu-fp32
	$(PYTHON) -m builder engine --profile $(PROFILE)

engines: venv-host ## build several profiles (one container per GPU): make engines PROFILES="a b"
	$(PYTHON) -m builder engines $(if $(PROFILES),--profiles $(PROFILES))

farm: venv-dev ## build profiles on a Ray cluster (RAY_AUTH_MODE=token): make farm PROFILES="a b" [ADDRESS=host:port]
	$(PYTHON) -m builder farm --profiles $(or $(PROFILES),$(PROFILE)) $(if $(ADDRESS),--address $(ADDRESS))

validate: venv-host ## check every profile, all problems at once
	$(PYTHON) -m builder validate

verify: venv-verify ## go / no-go for a build folder or bundle: make verify ARTIFACT=artifacts/cpu-fp32 [TRUSTED_KEY=pub.pem] [SELECT=1 [EXTRACT=dir]]
	$(PYTHON) -m builder verify $(if $(SELECT)$(EXTRACT),--select )$(ARTIFACT)$(if $(EXTRACT), --extract $(EXTRACT))$(if $(TRUSTED_KEY), --trusted-key $(TRUSTED_KEY))

shell: venv-host ## an interactive shell in the image, same mounts and hardening: make shell FLAVOUR=cpu|trt|trt10
	$(PYTHON) -m builder shell --flavour $(FLAVOUR)

pin: venv-host ## resolve the base images' digests into images.lock
	$(PYTHON) -m builder pin

offline-base: venv-host ## make the local Debian base image with debootstrap: make offline-base [MIRROR=URL]
	$(PYTHON) -m builder offline-base $(if $(MIRROR),--mirror $(MIRROR))

# The tiers (docs/dev/testing.md): tests/conftest.py marks `slow` every test that uses a real build or export fixture, a
# Docker engine or a Ray cluster, so `make test` stays the fast loop without a list to keep.
test: venv-dev ## the fast tests (under 2 min): fakes, goldens, data corpora; no real build, Docker or Ray
	$(PYTHON) -m pytest -m "not gpu and not slow" --durations=25 $(PYTEST_ARGS)

test-all: venv-dev ## every test but the gpu ones (real builds, Docker, Ray; what CI runs)
	$(PYTHON) -m pytest -m "not gpu" --durations=25 $(PYTEST_ARGS)

lint: venv-dev ## ruff check, ruff format --check and mypy against tensorrt-stubs (seconds once mypy's cache is warm)
	$(PYTHON) scripts/lint.py

test-gpu: venv-dev ## run the gpu tests inside the trt image on this GPU host (JUnit: artifacts/test-gpu/junit.xml) [IMAGE=engine-foundry:trt10]
	$(PYTHON) -m builder test-gpu$(if $(IMAGE), --image $(IMAGE))$(if $(PYTEST_ARGS), --pytest-args "$(PYTEST_ARGS)")

bench: venv-dev ## run the benchmarks under bench/
	$(PYTHON) bench/run.py

nightly: venv-$(if $(FARM),dev,host) ## rebuild image(s) and the profiles this host can build, compare, report: make nightly [PROFILES="a b"] [FARM=1]
	$(PYTHON) -m builder nightly $(if $(PROFILES),--profiles $(PROFILES)) $(if $(FARM),--farm $(if $(filter-out 1,$(FARM)),$(FARM)))

bundle: venv-host ## pack the latest build of PROFILE for ops (PROFILES="a b": one fleet bundle): make bundle PROFILE=cpu-fp32 [SIGN_KEY=key.pem]
	$(PYTHON) -m builder bundle $(if $(FARM_RUN),--farm-run $(FARM_RUN),$(if $(PROFILES),--profiles $(PROFILES),--profile $(PROFILE)))$(if $(SIGN_KEY), --sign-key $(SIGN_KEY))

clean: venv-host ## remove staged build inputs, leftover build containers and unused project images; says what it freed (never artifacts)
	$(PYTHON) -m builder clean

# The trained fixture model (docs/dev/fixture-model.md): regenerate the shapes set, retrain, compare with the pin.
.PHONY: fixture-model
fixture-model: venv-dev ## retrain a shapes fixture model, say whether it matches the pin: [TASK=detect|segment|pose|obb|classify] [DEVICE=cpu|0] [DATA_ONLY=1]
	$(PYTHON) -m builder fixture-model --task $(or $(TASK),detect) --device $(or $(DEVICE),cpu) $(if $(DATA_ONLY),--data-only)
