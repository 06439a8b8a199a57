/*
 * libFuzzer target for the nvml.conf parser (nvml_src/src/config_parse.c), built with
 * clang -fsanitize=fuzzer,address,undefined. Any crash, sanitizer report or a parse that
 * "succeeds" without filling the GPU table is a finding.
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
        for (unsigned i = 0; i < config.gpu_count; i++)
            if (config.gpu[i].minor >= MOCK_MAX_GPU || strlen(config.gpu[i].uuid) == 0)
                abort();
    } else if (strlen(err) == 0) {
        abort();
    }
    return 0;
}
