/*
 * nvml-probe: asks NVML what it sees and prints one line per fact, for tests that need to know
 * what a process in a node, a baked image or a nested container gets from libnvidia-ml.
 *
 * The library is loaded with dlopen rather than linked, so the probe runs in images that have no
 * NVML at build time and the library can come from wherever the test mounts it (a CDI mount, a
 * driver root). Only the handful of entry points below are used; their signatures are NVML's.
 *
 * Usage: nvml-probe [LIBRARY]
 *   LIBRARY defaults to "libnvidia-ml.so.1"; when that does not load, the first
 *   /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.<version> is tried, because a CDI spec without
 *   hooks mounts only the versioned file and no soname link.
 * Output (tab separated):
 *   library   <path it loaded>
 *   driver    <driver version>
 *   count     <number of GPUs>
 *   gpu       <index> <minor number> <uuid> <name>
 * Exit status: 0 success, 2 library not loadable, 3 an NVML call failed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>

typedef int nvml_return;
typedef struct nvml_device_opaque *nvml_device;

enum { NVML_OK = 0, TEXT_SIZE = 256 };

struct nvml_api {
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    const char *(*error_string)(nvml_return);
    nvml_return (*driver_version)(char *, unsigned int);
    nvml_return (*device_count)(unsigned int *);
    nvml_return (*handle_by_index)(unsigned int, nvml_device *);
    nvml_return (*uuid)(nvml_device, char *, unsigned int);
    nvml_return (*name)(nvml_device, char *, unsigned int);
    nvml_return (*minor_number)(nvml_device, unsigned int *);
};

static void *open_library(const char *requested, char *loaded, size_t loaded_size)
{
    void *handle = dlopen(requested, RTLD_NOW | RTLD_LOCAL);
    if (handle != NULL) {
        snprintf(loaded, loaded_size, "%s", requested);
        return handle;
    }
    fprintf(stderr, "nvml-probe: dlopen %s: %s\n", requested, dlerror());
    glob_t found;
    if (glob("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.*.*", 0, NULL, &found) == 0) {
        for (size_t i = 0; i < found.gl_pathc && handle == NULL; i++) {
            handle = dlopen(found.gl_pathv[i], RTLD_NOW | RTLD_LOCAL);
            if (handle != NULL)
                snprintf(loaded, loaded_size, "%s", found.gl_pathv[i]);
            else
                fprintf(stderr, "nvml-probe: dlopen %s: %s\n", found.gl_pathv[i], dlerror());
        }
        globfree(&found);
    }
    return handle;
}

static int bind_symbol(void *handle, const char *name, void **slot)
{
    *slot = dlsym(handle, name);
    if (*slot == NULL) {
        fprintf(stderr, "nvml-probe: symbol %s missing\n", name);
        return -1;
    }
    return 0;
}

static int bind_api(void *handle, struct nvml_api *api)
{
    /* Function pointers are stored through void ** as POSIX dlsym requires. */
    int failed = 0;
    failed |= bind_symbol(handle, "nvmlInit_v2", (void **)&api->init);
    failed |= bind_symbol(handle, "nvmlShutdown", (void **)&api->shutdown);
    failed |= bind_symbol(handle, "nvmlErrorString", (void **)&api->error_string);
    failed |= bind_symbol(handle, "nvmlSystemGetDriverVersion", (void **)&api->driver_version);
    failed |= bind_symbol(handle, "nvmlDeviceGetCount_v2", (void **)&api->device_count);
    failed |= bind_symbol(handle, "nvmlDeviceGetHandleByIndex_v2", (void **)&api->handle_by_index);
    failed |= bind_symbol(handle, "nvmlDeviceGetUUID", (void **)&api->uuid);
    failed |= bind_symbol(handle, "nvmlDeviceGetName", (void **)&api->name);
    failed |= bind_symbol(handle, "nvmlDeviceGetMinorNumber", (void **)&api->minor_number);
    return failed ? -1 : 0;
}

static int check(const struct nvml_api *api, nvml_return rc, const char *what)
{
    if (rc == NVML_OK)
        return 0;
    fprintf(stderr, "nvml-probe: %s: %s (%d)\n", what, api->error_string(rc), rc);
    return -1;
}

int main(int argc, char **argv)
{
    char loaded[4096];
    void *handle = open_library(argc > 1 ? argv[1] : "libnvidia-ml.so.1", loaded, sizeof loaded);
    struct nvml_api api;
    if (handle == NULL || bind_api(handle, &api) != 0)
        return 2;
    printf("library\t%s\n", loaded);

    if (check(&api, api.init(), "nvmlInit_v2") != 0)
        return 3;
    int status = 0;
    char text[TEXT_SIZE];
    unsigned int count = 0;
    if (check(&api, api.driver_version(text, sizeof text), "nvmlSystemGetDriverVersion") == 0)
        printf("driver\t%s\n", text);
    else
        status = 3;
    if (check(&api, api.device_count(&count), "nvmlDeviceGetCount_v2") != 0) {
        api.shutdown();
        return 3;
    }
    printf("count\t%u\n", count);
    for (unsigned int i = 0; i < count; i++) {
        nvml_device device;
        char uuid[TEXT_SIZE];
        unsigned int minor = 0;
        if (check(&api, api.handle_by_index(i, &device), "nvmlDeviceGetHandleByIndex_v2") != 0 ||
            check(&api, api.uuid(device, uuid, sizeof uuid), "nvmlDeviceGetUUID") != 0 ||
            check(&api, api.name(device, text, sizeof text), "nvmlDeviceGetName") != 0 ||
            check(&api, api.minor_number(device, &minor), "nvmlDeviceGetMinorNumber") != 0) {
            status = 3;
            continue;
        }
        printf("gpu\t%u\t%u\t%s\t%s\n", i, minor, uuid, text);
    }
    if (check(&api, api.shutdown(), "nvmlShutdown") != 0)
        status = 3;
    return status;
}
