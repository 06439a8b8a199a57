# make collection: the galaxy tarball, .build/collection/gpumock-nvidia-<version>.tar.gz, with the
# mock NVML and nvidia-mock-ctl prebuilt for every node architecture the driver tree knows
# (files/prebuilt/<arch>/, cross-compiled with Debian's <arch>-linux-gnu-gcc) beside their sources,
# and files/prebuilt/SOURCE_HASH, the hash of those sources (nvml_src/nvml_build.py): the role
# installed from it uses them while the sources match, with no compiler anywhere.
COLLECTION_STAGE := $(ROOT)/.build/collection-stage/ansible_collections/gpumock/nvidia
COLLECTION_OUT := $(ROOT)/.build/collection
NODE_ARCHITECTURES = $(shell $(PY) -c 'import sys; sys.path.insert(0, "$(COLLECTIONS)"); \
    from ansible_collections.gpumock.nvidia.plugins.module_utils.render import driver_tree; \
    print(" ".join(driver_tree.ARCHITECTURES))')

.PHONY: collection
collection: collection-link ## the galaxy tarball with the mock NVML prebuilt for x86_64 and aarch64 (.build/collection/)
	@$(call copy_checkout,$(COLLECTION_STAGE))
	@set -e; for arch in $(NODE_ARCHITECTURES); do \
	    $(MAKE) --no-print-directory -s -C nvml_src ARCH=$$arch; \
	    mkdir -p $(COLLECTION_STAGE)/files/prebuilt/$$arch; \
	    cp -L nvml_src/build/arch/$$arch/libnvidia-ml.so.1 $(COLLECTION_STAGE)/files/prebuilt/$$arch/libnvidia-ml.so; \
	    cp nvml_src/build/arch/$$arch/nvidia-mock-ctl $(COLLECTION_STAGE)/files/prebuilt/$$arch/nvidia-mock-ctl; \
	done
	@$(PY) $(COLLECTION_STAGE)/nvml_src/nvml_build.py hash --root $(COLLECTION_STAGE) \
	    > $(COLLECTION_STAGE)/files/prebuilt/SOURCE_HASH
	@mkdir -p $(COLLECTION_OUT)
	@ansible-galaxy collection build --force --output-path $(COLLECTION_OUT) $(COLLECTION_STAGE)
