# The front door on a real kind cluster: playbooks/kind.yml creates it with kind, provisions and
# labels every node, runs NVIDIA's device plugin and GPU feature discovery, and pods get their
# GPUs (owner: kind area). Every piece is built here, from the Go module proxy and Debian.

.PHONY: kind-cluster-pieces kind-node-image kind-test-images test-kind bench-kind

kind-cluster-pieces: ## kind, Kubernetes, etcd, CoreDNS, crictl from the Go module proxy (cached per version)
	bash scripts/deps/install.d/kubernetes.sh

kind-node-image: kind-cluster-pieces conformance-tools dockerd ## gpumock/kind-node: the node image real kind boots (cached)
	bash images/kind-node/build.sh

kind-test-images: conformance-tools dockerd ## NVIDIA's device plugin + GFD image, node-feature-discovery's, the pods' probe image (cached)
	bash images/build.sh gpu-probe k8s-device-plugin node-feature-discovery

test-kind: kind-node-image kind-test-images collection-link ## tests/kind: playbooks/kind.yml on a real 3-node kind cluster, plugin, GFD, pods
	$(PY) -m pytest -q -p no:cacheprovider -rs tests/kind

bench-kind: test-kind ## the real-cluster timings (tests/kind prints them as a table)
