# Python foundation: module_utils, the node modules, their unit/integration tests, sanity, bench.
# (owner: Python foundation area)
SANITY_ROOT := $(or $(TMPDIR),/tmp)/gpumock-sanity/ansible_collections/gpumock/nvidia
PYTEST := $(PY) -m pytest

.PHONY: test-unit test-integration test-python sanity bench-modules sanity-copy lint

test-unit: collection-link ## unit tests: engine, CDI model, modules through the module harness
	$(PYTEST) -q -p no:cacheprovider tests/unit

test-fuzz: collection-link ## every module against generated hostile options (Hypothesis; FUZZ_EXAMPLES per module)
	$(PYTEST) -q -p no:cacheprovider -s tests/fuzz

test-integration: collection-link collection ## ansible-playbook on localhost into a temp root (as root), into an arm64 rootfs through chroot (qemu binfmt), collection build/install (the tarball of make collection)
	$(PYTEST) -q -p no:cacheprovider tests/integration

test-python: test-unit test-integration sanity

# ansible-test must run from a real directory named ansible_collections/<ns>/<name> (it resolves
# symlinks) and outside this git checkout (else it lists files with this repo's git and finds none),
# so sanity runs on a fresh copy, under TMPDIR, of the files git knows about (copy_checkout).
sanity-copy:
	@$(call copy_checkout,$(SANITY_ROOT))

# ansible-test --venv bootstraps pip from ci-files.testing.ansible.com (not reachable here), so the
# sanity tools live in their own venv (pip from PyPI), and ansible-test runs --local in it with
# --requirements: the shared .venv never gets the sanity tools' pins.
SANITY_VENV := $(ROOT)/.build/sanity-venv
ANSIBLE_CORE_PIN := $(shell grep -E '^ansible-core==' $(ROOT)/requirements-dev.txt)

$(SANITY_VENV)/bin/ansible-test: requirements-dev.txt
	/usr/bin/python3.11 -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install -q --upgrade pip
	$(SANITY_VENV)/bin/pip install -q '$(ANSIBLE_CORE_PIN)'
	touch $@

# Its per-test venvs get pip from a bootstrap script it downloads from the same unreachable host;
# tests/sanity/get_pip_standin.py does that job (see its docstring).
GET_PIP_CACHE := $(HOME)/.ansible/test/cache
sanity: sanity-copy $(SANITY_VENV)/bin/ansible-test ## ansible-test sanity (python 3.11, local venv, no docker, no ignore entries)
	@mkdir -p $(GET_PIP_CACHE)
	@v=$$(grep -o -E "pip='[0-9.]+'" $(SANITY_VENV)/lib/python3.11/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.'); \
		f=$(GET_PIP_CACHE)/get_pip_$$(echo $$v | tr . _).py; test -e $$f || cp tests/sanity/get_pip_standin.py $$f
	cd $(SANITY_ROOT) && $(SANITY_VENV)/bin/ansible-test sanity --local --requirements --python 3.11 --color no $(SANITY_ARGS)

bench-modules: collection-link ## wall time of each node module for 8 and 128 GPUs (printed table)
	$(PY) bench/modules_bench.py

# Without the ANSIBLE_* path variables ansible-lint runs isolated: it installs this collection
# into the venv's own .ansible/, not into ~/.ansible/collections of whoever runs it.
lint: collection-link ## ansible-lint, production profile (config: .ansible-lint)
	env -u ANSIBLE_COLLECTIONS_PATH -u ANSIBLE_HOME -u ANSIBLE_LIBRARY -u ANSIBLE_ROLES_PATH \
	    VIRTUAL_ENV=$(VENV) $(VENV)/bin/ansible-lint --profile production
