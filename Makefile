# gpumock.nvidia — top-level targets. Each area adds its own targets in mk/*.mk.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
COLLECTIONS := $(ROOT)/.build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(VENV)/bin:$(PATH)

.PHONY: help deps collection-link test
help:
	@echo "make demo   - provision a mock GPU node into a local directory and show it"
	@echo "make test   - everything CI runs"
	@grep -h -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t- /' | sort

deps: ## install tooling (apt, pip venv, go) — idempotent
	bash scripts/install-deps.sh

collection-link:
	@mkdir -p $(COLLECTIONS)/ansible_collections/gpumock
	@ln -sfn $(ROOT) $(COLLECTIONS)/ansible_collections/gpumock/nvidia

include $(sort $(wildcard mk/*.mk))
