/*
 * Loads an NVML library by path and reports what nvmlInit_v2 and enumeration give, for tests
 * that need a fresh process (config lookup, stderr of a bad config, mount namespaces):
 *   nvml_probe LIB  ->  lines init=<rc>, count=<n>, name=<name of GPU 0>, uuid=<its UUID>
 */
#include <dlfcn.h>
#include <stdio.h>

#include "nvml.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LIBNVIDIA_ML\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    nvmlReturn_t (*init)(void) = (nvmlReturn_t (*)(void))dlsym(lib, "nvmlInit_v2");
    nvmlReturn_t (*count)(unsigned *) = (nvmlReturn_t (*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *) =
        (nvmlReturn_t (*)(unsigned, nvmlDevice_t *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned) =
        (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned))dlsym(lib, "nvmlDeviceGetName");
    nvmlReturn_t (*uuid)(nvmlDevice_t, char *, unsigned) =
        (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned))dlsym(lib, "nvmlDeviceGetUUID");
    nvmlReturn_t rc = init();
    unsigned n = 0;
    char gpu_name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "-";
    char gpu_uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = "-";
    if (rc == NVML_SUCCESS && count(&n) == NVML_SUCCESS && n > 0) {
        nvmlDevice_t dev;
        if (by_index(0, &dev) == NVML_SUCCESS) {
            name(dev, gpu_name, sizeof gpu_name);
            uuid(dev, gpu_uuid, sizeof gpu_uuid);
        }
    }
    printf("init=%d\ncount=%u\nname=%s\nuuid=%s\n", (int)rc, n, gpu_name, gpu_uuid);
    return 0;
}
