# The mock NVML (owner: NVML area): build, tests (plain, ASan+UBSan, TSan, valgrind, garbage
# calls, aarch64 under qemu, pytest with pynvml/cffi), config-parser fuzzing and the benchmark.
NVML_BUILD := $(ROOT)/nvml_src/build
NVML_LIB := $(NVML_BUILD)/libnvidia-ml.so.1
NVML_T := $(NVML_BUILD)/tests
NVML_INC := -I$(ROOT)/nvml_src/include
NVML_TEST_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -Wall -Wextra -Werror $(NVML_INC)
NVML_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
NVML_TSAN := -fsanitize=thread
FUZZ_SECONDS ?= 30
NVML_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Loading the ASan build into Python needs the runtime preloaded; Python's own allocations
# are not ours to judge, so leak checking is off there (the C runs above keep it on).
NVML_PY_ASAN_ENV := LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: nvml nvml-variants nvml-aarch64 nvml-arm64-rootfs nvml-generated nvml-test-bins test-nvml fuzz-nvml bench-nvml

nvml: ## build the mock NVML (nvml_src/build/libnvidia-ml.so.*)
	@$(MAKE) --no-print-directory -s -C nvml_src

nvml-variants: nvml
	@$(MAKE) --no-print-directory -s -C nvml_src BUILD=$(NVML_BUILD)/asan \
	    EXTRA_CFLAGS="$(NVML_SAN)" EXTRA_LDFLAGS="$(NVML_SAN)"
	@$(MAKE) --no-print-directory -s -C nvml_src BUILD=$(NVML_BUILD)/tsan \
	    EXTRA_CFLAGS="$(NVML_TSAN)" EXTRA_LDFLAGS="$(NVML_TSAN)"

$(NVML_T)/garbage_calls.c: tests/nvml/gen_garbage_calls.py nvml_src/nvml_prototypes.py nvml_src/include/nvml.h
	@mkdir -p $(NVML_T)
	@python3 tests/nvml/gen_garbage_calls.py --header nvml_src/include/nvml.h --out $@

# name, sources, flags, library directory
define nvml_test_bin
$(NVML_T)/$(1): $(2) nvml_src/include/nvml.h nvml_src/include/nvml_types.h | nvml-variants
	@mkdir -p $(NVML_T)
	@$(CC) $(NVML_TEST_CFLAGS) $(3) $(2) -o $$@ -L$(4) -l:libnvidia-ml.so.1 -Wl,-rpath,$(4) -pthread
endef
$(eval $(call nvml_test_bin,test_api,tests/nvml/c/test_api.c,,$(NVML_BUILD)))
$(eval $(call nvml_test_bin,test_api_asan,tests/nvml/c/test_api.c,$(NVML_SAN),$(NVML_BUILD)/asan))
$(eval $(call nvml_test_bin,garbage_calls,$(NVML_T)/garbage_calls.c,,$(NVML_BUILD)))
$(eval $(call nvml_test_bin,garbage_calls_asan,$(NVML_T)/garbage_calls.c,$(NVML_SAN),$(NVML_BUILD)/asan))
$(eval $(call nvml_test_bin,test_threads_tsan,tests/nvml/c/test_threads.c,$(NVML_TSAN),$(NVML_BUILD)/tsan))
$(eval $(call nvml_test_bin,test_live_threads_tsan,tests/nvml/c/test_live_threads.c,$(NVML_TSAN),$(NVML_BUILD)/tsan))
$(eval $(call nvml_test_bin,test_live_threads_asan,tests/nvml/c/test_live_threads.c,$(NVML_SAN),$(NVML_BUILD)/asan))
$(eval $(call nvml_test_bin,test_mig_threads_tsan,tests/nvml/c/test_mig_threads.c,$(NVML_TSAN),$(NVML_BUILD)/tsan))
$(eval $(call nvml_test_bin,test_mig_threads_asan,tests/nvml/c/test_mig_threads.c,$(NVML_SAN),$(NVML_BUILD)/asan))

# aarch64 (arm64 nodes): the library cross-built with Debian's aarch64-linux-gnu-gcc, and the C API
# test and the garbage calls built against it, run here under qemu-aarch64 user emulation.
NVML_ARM_BUILD := $(NVML_BUILD)/arch/aarch64
NVML_ARM_T := $(NVML_T)/aarch64
NVML_QEMU := qemu-aarch64 -L /usr/aarch64-linux-gnu

nvml-aarch64: ## build the mock NVML for aarch64 (nvml_src/build/arch/aarch64/)
	@$(MAKE) --no-print-directory -s -C nvml_src ARCH=aarch64

# name, sources
define nvml_arm_test_bin
$(NVML_ARM_T)/$(1): $(2) nvml_src/include/nvml.h nvml_src/include/nvml_types.h | nvml-aarch64
	@mkdir -p $(NVML_ARM_T)
	@aarch64-linux-gnu-gcc $(NVML_TEST_CFLAGS) $(2) -o $$@ -L$(NVML_ARM_BUILD) -l:libnvidia-ml.so.1 \
	    -Wl,-rpath,$(NVML_ARM_BUILD) -pthread
endef
$(eval $(call nvml_arm_test_bin,test_api,tests/nvml/c/test_api.c))
$(eval $(call nvml_arm_test_bin,garbage_calls,$(NVML_T)/garbage_calls.c))
$(NVML_ARM_T)/nvml_probe: tests/nvml/c/nvml_probe.c nvml_src/include/nvml.h
	@mkdir -p $(NVML_ARM_T)
	@aarch64-linux-gnu-gcc $(NVML_TEST_CFLAGS) $< -o $@ -ldl

# The node the control-path runs act on (an 8-GPU dgxh100), with a state file of their own.
NVML_LIVE := $(NVML_T)/live
# Rendered from the profiles: the same Python the library's generators read (python-sources.txt).
NVML_CONF_INPUTS := nvml_src/python-sources.txt $(shell sed -e 's/\#.*//' nvml_src/python-sources.txt)
$(NVML_LIVE)/gpus8.conf: bench/nvml_configs.py $(NVML_CONF_INPUTS) | collection-link
	@$(PY) bench/nvml_configs.py $(NVML_LIVE)
NVML_LIVE_RUN = $(1) $(NVML_BUILD)/nvidia-mock-ctl $(NVML_LIVE)/gpus8.conf $(NVML_LIVE)/$(notdir $(1)).state

# The node the MIG runs act on: one A100 in MIG mode with two GPU instances and room for two more 1g.
$(NVML_LIVE)/mig.conf: mk/nvml.mk $(NVML_CONF_INPUTS) | collection-link
	@mkdir -p $(NVML_LIVE)
	@$(PY) -c 'import sys; sys.path.insert(0, ".build/collections"); \
	    from ansible_collections.gpumock.nvidia.plugins.module_utils.facts import profiles; from ansible_collections.gpumock.nvidia.plugins.module_utils.render import nvml_config; \
	    print(nvml_config.render(profiles.build_node("dgxa100", gpu_count=1, node_id="mig-threads", \
	        mig_enabled=True, mig_layout=["3g.20gb", "1g.5gb"]), visibility="all"), end="")' > $@

$(NVML_T)/nvml_probe: tests/nvml/c/nvml_probe.c nvml_src/include/nvml.h
	@mkdir -p $(NVML_T)
	@$(CC) $(NVML_TEST_CFLAGS) $< -o $@ -ldl

NVML_TEST_BINS := $(addprefix $(NVML_T)/,test_api test_api_asan garbage_calls garbage_calls_asan \
    test_threads_tsan test_live_threads_tsan test_live_threads_asan test_mig_threads_tsan \
    test_mig_threads_asan nvml_probe) $(NVML_LIVE)/gpus8.conf $(NVML_LIVE)/mig.conf \
    $(NVML_ARM_T)/test_api $(NVML_ARM_T)/garbage_calls $(NVML_ARM_T)/nvml_probe
nvml-test-bins: $(NVML_TEST_BINS)

# Each C run uses the built-in dgxa100 default (no config in the environment).
# The arm64 python3 and nvidia-smi that tests/nvml/test_arm64_userland.py runs under qemu-aarch64,
# unpacked outside the checkout (make deps fetches them too). Offline it only warns: the test
# then skips, saying the packages could not be fetched.
nvml-arm64-rootfs: ## fetch the arm64 python3 and nvidia-smi for the aarch64 mock's userland test
	@bash scripts/deps/install.d/arm64-rootfs.sh || echo "nvml-arm64-rootfs: not fetched; test_arm64_userland.py will skip"

test-nvml: collection-link nvml-variants nvml-test-bins nvml-arm64-rootfs ## mock NVML: C, sanitizers, valgrind, garbage calls, pytest, fuzz
	@echo "--- C API test";               env -u MOCK_NVML_CONFIG $(NVML_T)/test_api
	@echo "--- C API test, ASan+UBSan";   env -u MOCK_NVML_CONFIG $(NVML_ASAN_ENV) $(NVML_T)/test_api_asan
	@echo "--- C API test, valgrind";     env -u MOCK_NVML_CONFIG valgrind -q --error-exitcode=9 \
	    --leak-check=full --errors-for-leak-kinds=definite $(NVML_T)/test_api
	@echo "--- garbage calls";            env -u MOCK_NVML_CONFIG $(NVML_T)/garbage_calls
	@echo "--- garbage calls, ASan+UBSan"; env -u MOCK_NVML_CONFIG $(NVML_ASAN_ENV) $(NVML_T)/garbage_calls_asan
	@echo "--- C API test, aarch64 under qemu";  env -u MOCK_NVML_CONFIG $(NVML_QEMU) $(NVML_ARM_T)/test_api
	@echo "--- garbage calls, aarch64 under qemu"; env -u MOCK_NVML_CONFIG $(NVML_QEMU) $(NVML_ARM_T)/garbage_calls
	@echo "--- 32 threads, TSan";         env -u MOCK_NVML_CONFIG TSAN_OPTIONS=halt_on_error=1 \
	    setarch -R $(NVML_T)/test_threads_tsan
	@echo "--- nvidia-mock-ctl changes under readers and event waits, TSan"; TSAN_OPTIONS=halt_on_error=1 \
	    setarch -R $(call NVML_LIVE_RUN,$(NVML_T)/test_live_threads_tsan)
	@echo "--- nvidia-mock-ctl changes under readers and event waits, ASan+UBSan"; $(NVML_ASAN_ENV) \
	    $(call NVML_LIVE_RUN,$(NVML_T)/test_live_threads_asan)
	@echo "--- MIG instances created and destroyed under readers, TSan"; TSAN_OPTIONS=halt_on_error=1 \
	    setarch -R $(NVML_T)/test_mig_threads_tsan $(NVML_LIVE)/mig.conf $(NVML_LIVE)/mig-tsan.state
	@echo "--- MIG instances created and destroyed under readers, ASan+UBSan"; $(NVML_ASAN_ENV) \
	    $(NVML_T)/test_mig_threads_asan $(NVML_LIVE)/mig.conf $(NVML_LIVE)/mig-asan.state
	@echo "--- pytest (pynvml, cffi)"
	$(PY) -m pytest -q -p no:cacheprovider tests/nvml
	@echo "--- pytest (pynvml, cffi) against the ASan+UBSan build"
	env $(NVML_PY_ASAN_ENV) MOCK_NVML_LIB=$(NVML_BUILD)/asan/libnvidia-ml.so.1 \
	    MOCK_NVML_PROBE=$(NVML_T)/nvml_probe $(PY) -m pytest -q -p no:cacheprovider tests/nvml \
	    --deselect tests/nvml/test_nvidia_smi.py --deselect tests/nvml/test_nvidia_smi_no_na.py \
	    --deselect tests/nvml/test_nvidia_smi_mig.py \
	    --deselect tests/nvml/test_prototypes.py --deselect tests/nvml/test_live_tools.py \
    --deselect tests/nvml/test_symbols.py --deselect tests/nvml/test_aarch64.py \
	    --deselect tests/nvml/test_arm64_userland.py
	@$(MAKE) --no-print-directory fuzz-nvml FUZZ_SECONDS=$(FUZZ_SECONDS)

# The parser alone, against the config structs and tables generated from nvml_schema; the
# generator's stamp changes when they may have.
nvml-generated:
	@$(MAKE) --no-print-directory -s -C nvml_src generated
$(NVML_BUILD)/gen/schema.stamp: nvml-generated ;

$(NVML_BUILD)/fuzz/fuzz_config: tests/nvml/fuzz/fuzz_config.c nvml_src/src/config_parse.c nvml_src/src/mock.h \
    $(NVML_BUILD)/gen/schema.stamp
	@mkdir -p $(dir $@)
	@clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(NVML_INC) -Invml_src/src -I$(NVML_BUILD)/gen $< \
	    nvml_src/src/config_parse.c -o $@

fuzz-nvml: collection-link $(NVML_BUILD)/fuzz/fuzz_config ## fuzz the nvml.conf parser for FUZZ_SECONDS (default 30)
	@rm -rf $(NVML_BUILD)/fuzz/seeds && mkdir -p $(NVML_BUILD)/fuzz/corpus
	@$(PY) tests/nvml/fuzz/make_seeds.py $(NVML_BUILD)/fuzz/seeds
	@echo "--- fuzzing the config parser for $(FUZZ_SECONDS) s"
	@cd $(NVML_BUILD)/fuzz && ./fuzz_config -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -print_final_stats=1 corpus seeds 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss|Done|==|SUMMARY)|ERROR" ; \
	    test $${PIPESTATUS[0]} -eq 0 && echo "fuzz: 0 crashes in $(FUZZ_SECONDS) s"

$(NVML_BUILD)/bench/nvml_bench: bench/nvml_bench.c
	@mkdir -p $(dir $@)
	@$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror $(NVML_INC) $< -o $@ -ldl

bench-nvml: nvml collection-link $(NVML_BUILD)/bench/nvml_bench ## mock NVML latency / init / RSS table
	@$(PY) bench/nvml_configs.py $(NVML_BUILD)/bench
	@$(NVML_BUILD)/bench/nvml_bench $(NVML_LIB) $(NVML_BUILD)/bench/gpus8.conf $(NVML_BUILD)/bench/gpus128.conf \
	    $(NVML_BUILD)/bench/live.state
