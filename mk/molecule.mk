# molecule/default: the role on real Docker containers (owner: images/molecule area).
.PHONY: test-molecule test-bake molecule-converge molecule-verify molecule-destroy

test-molecule: images collection-link ## molecule/default: bookworm + trixie nodes, idempotence, check mode, testinfra
	molecule test -s default

# For iterating: keep the nodes between runs.
molecule-converge: images collection-link
	molecule converge -s default
molecule-verify: collection-link
	molecule verify -s default
molecule-destroy:
	molecule destroy -s default

test-bake: images collection-link ## playbooks/local.yml baked into a rootfs (chroot), imported, booted; NVML answers inside
	$(PY) -m pytest -q -p no:cacheprovider tests/bake

BENCH_BEFORE ?= main
bench-converge: images collection-link ## converge timings: role (this checkout and BENCH_BEFORE, default main) vs naive baseline on one node, 16 nodes in parallel (table)
	$(PY) bench/converge_bench.py --before "$(BENCH_BEFORE)" $(BENCH_ARGS)
