# Engine Foundry: each target is one command into the Python CLI (`python3 -m builder <command>`) or pytest.
# The logic lives in tested Python (builder/host/*); `make help` lists the targets.

PYTHON     ?= python3
PROFILE    ?= cpu-fp32
PROFILES   ?=
FLAVOUR    ?= cpu
ARTIFACT   ?= artifacts/$(PROFILE)
MIRROR     ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help image engine engines validate verify shell pin offline-base test test-gpu bench nightly bundle clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

image: ## build the builder image: make image FLAVOUR=cpu|trt
	$(PYTHON) -m builder image --flavour $(FLAVOUR)

engine: ## build one profile in its container: make engine PROFILE=cpu-fp32
	$(PYTHON) -m builder engine --profile $(PROFILE)

engines: ## build several profiles (one container per GPU): make engines PROFILES="a b"
	$(PYTHON) -m builder engines $(if $(PROFILES),--profiles $(PROFILES))

validate: ## check every profile, all problems at once
	$(PYTHON) -m builder validate

verify: ## go / no-go for a build folder or bundle: make verify ARTIFACT=artifacts/cpu-fp32
	$(PYTHON) -m builder verify $(ARTIFACT)

shell: ## an interactive shell in the image, same mounts and hardening: make shell FLAVOUR=cpu|trt
	$(PYTHON) -m builder shell --flavour $(FLAVOUR)

pin: ## resolve the base images' digests into images.lock
	$(PYTHON) -m builder pin

offline-base: ## make the local Debian base image with debootstrap: make offline-base [MIRROR=URL]
	$(PYTHON) -m builder offline-base $(if $(MIRROR),--mirror $(MIRROR))

test: ## run the tests (all but the gpu ones; Docker tests use the real engine)
	$(PYTHON) -m pytest -m "not gpu" $(PYTEST_ARGS)

test-gpu: ## run the gpu tests inside the trt image on this GPU host (JUnit: artifacts/test-gpu/junit.xml)
	$(PYTHON) -m builder test-gpu$(if $(PYTEST_ARGS), --pytest-args "$(PYTEST_ARGS)")

bench: ## run the benchmarks under bench/
	$(PYTHON) bench/run.py

nightly: ## rebuild image(s) and every profile from scratch, compare, report
	$(PYTHON) -m builder nightly

bundle: ## pack the latest build of PROFILE for ops: make bundle PROFILE=cpu-fp32
	$(PYTHON) -m builder bundle --profile $(PROFILE)

clean: ## remove staged image build inputs and leftover build containers (never artifacts)
	$(PYTHON) -m builder clean

# The trained fixture model (docs/fixture-model.md): regenerate the shapes set, retrain, compare with the pin.
.PHONY: fixture-model
fixture-model: ## retrain the shapes fixture model, say whether it matches the pin: [DEVICE=cpu|0] [DATA_ONLY=1]
	$(PYTHON) -m builder fixture-model --device $(or $(DEVICE),cpu) $(if $(DATA_ONLY),--data-only)
