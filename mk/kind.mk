# kind front door: playbooks/kind.yml on kind-like node containers, CDI through CRI (owner: kind area).
KIND_CLUSTER_BENCH := gpumock-kbench
# Only this scenario's file: molecule otherwise loads (and schema-checks) every scenario.
KIND_MOLECULE := MOLECULE_GLOB=molecule/kind/molecule.yml molecule

.PHONY: kind-node-image cri-probe test-cri-probe test-kind kind-converge kind-verify kind-destroy bench-kind

kind-node-image: image-tiny-nvml-probe ## kind-like node image (trixie, systemd, containerd 1.7) and the pause image (cached)
	bash images/kind-node/build.sh

cri-probe: ## the CRI v1 client molecule/kind runs pods with (.build/kind/cri-probe, cached)
	bash scripts/deps/install.d/kind.sh

test-cri-probe: ## the CRI client's Go unit tests (then builds it)
	bash scripts/deps/install.d/kind.sh test

test-kind: kind-node-image test-cri-probe conformance-tools collection-link ## molecule/kind: playbooks/kind.yml on 3 kind-like nodes, idempotence, CDI through CRI
	$(KIND_MOLECULE) test -s kind

# For iterating: keep the nodes between runs.
kind-converge: kind-node-image cri-probe collection-link
	$(KIND_MOLECULE) converge -s kind
kind-verify: cri-probe conformance-tools collection-link
	$(KIND_MOLECULE) verify -s kind
kind-destroy:
	$(KIND_MOLECULE) destroy -s kind

bench-kind: kind-node-image collection-link ## three-node converge and re-run times of playbooks/kind.yml (printed table)
	$(PY) bench/kind_bench.py --cluster $(KIND_CLUSTER_BENCH)
