/*
 * libFuzzer target for the nvml.conf parser (nvml_src/src/config_parse.c), built with
 * clang -fsanitize=fuzzer,address,undefined. Any crash, sanitizer report, or a parse that
 * "succeeds" without filling the GPU table or with a rule of the schema broken (two GPUs sharing
 * a UUID, serial or bus id; reserved memory above the total) is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static struct mock_config config;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (mock_config_parse((const char *)data, size, &config, err, sizeof err) == 0) {
        if (config.gpu_count == 0 || config.gpu_count > MOCK_MAX_GPU)
            abort();
        for (unsigned i = 0; i < config.gpu_count; i++) {
            const struct mock_gpu *g = &config.gpu[i];
            if (g->minor >= MOCK_MAX_GPU || strlen(g->uuid) == 0)
                abort();
            for (unsigned j = 0; j < i; j++)
                if (strcmp(g->uuid, config.gpu[j].uuid) == 0 ||
                    strcmp(g->serial, config.gpu[j].serial) == 0 ||
                    memcmp(&g->pci_bus_id, &config.gpu[j].pci_bus_id, sizeof g->pci_bus_id) == 0)
                    abort();
        }
        if (config.board.memory_reserved_bytes > config.board.memory_total_bytes)
            abort();
    } else if (strlen(err) == 0) {
        abort();
    }
    return 0;
}
