# Conformance: real NVIDIA clients (go-nvml, nvidia-ctk, GPU feature discovery) and the CDI
# project's library against nodes made by this collection's modules. (owner: conformance area)
CONFORMANCE_BIN := $(shell . $(ROOT)/scripts/deps/versions.sh && echo $$CONFORMANCE_BIN)
export CONFORMANCE_BIN

.PHONY: conformance-tools test-conformance

conformance-tools: ## build nvidia-ctk, gpu-feature-discovery and the suite's Go probes (cached)
	bash scripts/deps/install.d/conformance.sh

# The mock NVML comes from the nvml area's `nvml` target (nvml_src/build/libnvidia-ml.so.<ver>).
test-conformance: conformance-tools nvml collection-link ## real NVIDIA clients against mock nodes of every built-in profile
	$(PY) -m pytest -q -p no:cacheprovider -rs tests/conformance
