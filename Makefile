# gpumock.nvidia — top-level targets. Each area adds its own targets in mk/*.mk.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
COLLECTIONS := $(ROOT)/.build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(VENV)/bin:$(PATH)
# The project's own Docker engine (scripts/dockerd.sh): every docker, kind and molecule call uses it.
export DOCKER_HOST := $(shell bash $(ROOT)/scripts/dockerd.sh host)

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

# Copies the files git knows about (tracked and unignored) into the fresh directory $(1); without
# git (a source tarball), everything but the build outputs. Sanity and the collection tarball
# start from it, so nothing a checkout built or ignores reaches them.
define copy_checkout
rm -rf $(1) && mkdir -p $(1) && \
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' \
		| tar -c -T - | tar -x -C $(1); \
else \
	tar -c --exclude=./.build --exclude=./.venv --exclude=./.git --exclude=./tests/output \
		--exclude=./nvml_src/build --exclude='*.pyc' --exclude=__pycache__ . | tar -x -C $(1); \
fi
endef

include $(sort $(wildcard mk/*.mk))

# Every suite, in order from fast to real. Each is defined by its area's fragment in mk/.
TEST_SUITES := test-unit test-fuzz test-nvml test-integration sanity lint test-conformance test-molecule test-bake test-kind

test: deps ## everything CI runs (installs what it needs, starts the Docker engine); prints each suite's time
	@failed=""; passed=0; times=""; \
	for t in $(TEST_SUITES); do \
	  echo "=================== make $$t"; start=$$(date +%s); \
	  if $(MAKE) --no-print-directory $$t; then passed=$$((passed+1)); result=passed; else failed="$$failed $$t"; result=FAILED; fi; \
	  times="$$times$$(printf '%-18s %6ss  %s' $$t $$(( $$(date +%s) - start )) $$result)\n"; \
	done; \
	echo "=================== suite times"; printf "$$times"; \
	nfail=$$(echo $$failed | wc -w); \
	[ -z "$$failed" ] || echo "failed suites:$$failed"; \
	echo "suites: $$passed passed, $$nfail failed"; \
	[ -z "$$failed" ]

.PHONY: bench
bench: bench-modules bench-nvml bench-converge bench-kind ## every benchmark table (not part of make test)
