/*
 * The mock NVML's C contract, exercised from C: run plainly, under ASan+UBSan and under
 * valgrind (mk/nvml.mk). Uses whatever config the environment selects (the build's default is
 * dgxa100). Prints one line per failed check and "<N> passed, <M> failed" at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml.h"

static unsigned passed, failed;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) {                                                                          \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                           \
        }                                                                                    \
    } while (0)

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_uninitialized(void)
{
    unsigned n;
    nvmlDevice_t d;
    CHECK(nvmlDeviceGetCount_v2(&n) == NVML_ERROR_UNINITIALIZED);
    CHECK(nvmlDeviceGetHandleByIndex_v2(0, &d) == NVML_ERROR_UNINITIALIZED);
    CHECK(nvmlShutdown() == NVML_ERROR_UNINITIALIZED);
    CHECK(strcmp(nvmlErrorString(NVML_ERROR_UNINITIALIZED), "Uninitialized") == 0);
}

static void test_enumeration(unsigned count)
{
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE], serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    for (unsigned i = 0; i < count; i++) {
        nvmlDevice_t d, by_uuid, by_serial, by_bus, by_legacy;
        nvmlPciInfo_t pci;
        unsigned index = 99;
        CHECK(nvmlDeviceGetHandleByIndex_v2(i, &d) == NVML_SUCCESS);
        CHECK(nvmlDeviceGetIndex(d, &index) == NVML_SUCCESS && index == i);
        CHECK(nvmlDeviceGetUUID(d, uuid, sizeof uuid) == NVML_SUCCESS);
        CHECK(strncmp(uuid, "GPU-", 4) == 0 && strlen(uuid) == 40);
        CHECK(nvmlDeviceGetSerial(d, serial, sizeof serial) == NVML_SUCCESS);
        CHECK(nvmlDeviceGetName(d, name, sizeof name) == NVML_SUCCESS && name[0] != '\0');
        CHECK(nvmlDeviceGetPciInfo_v3(d, &pci) == NVML_SUCCESS);
        CHECK(nvmlDeviceGetHandleByUUID(uuid, &by_uuid) == NVML_SUCCESS && by_uuid == d);
        CHECK(nvmlDeviceGetHandleBySerial(serial, &by_serial) == NVML_SUCCESS && by_serial == d);
        CHECK(nvmlDeviceGetHandleByPciBusId_v2(pci.busId, &by_bus) == NVML_SUCCESS && by_bus == d);
        CHECK(nvmlDeviceGetHandleByPciBusId_v2(pci.busIdLegacy, &by_legacy) == NVML_SUCCESS &&
              by_legacy == d);
        CHECK(nvmlDeviceGetUUID(d, uuid, 40) == NVML_ERROR_INSUFFICIENT_SIZE);
        CHECK(nvmlDeviceGetUUID(d, NULL, 80) == NVML_ERROR_INVALID_ARGUMENT);
    }
    nvmlDevice_t d;
    CHECK(nvmlDeviceGetHandleByIndex_v2(count, &d) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlDeviceGetHandleByIndex_v2(0, NULL) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlDeviceGetHandleByUUID("GPU-nope", &d) == NVML_ERROR_NOT_FOUND);
    CHECK(nvmlDeviceGetHandleByPciBusId_v2("nope", &d) == NVML_ERROR_NOT_FOUND);
}

static void test_bad_handles(void)
{
    int junk;
    unsigned v;
    nvmlDevice_t fakes[] = { NULL, (nvmlDevice_t)&junk, (nvmlDevice_t)0x10,
                             (nvmlDevice_t)~(unsigned long)0 };
    for (unsigned i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
        CHECK(nvmlDeviceGetIndex(fakes[i], &v) == NVML_ERROR_INVALID_ARGUMENT);
        CHECK(nvmlDeviceGetPowerUsage(fakes[i], &v) == NVML_ERROR_INVALID_ARGUMENT);
        CHECK(nvmlDeviceGetFanSpeed(fakes[i], &v) == NVML_ERROR_INVALID_ARGUMENT);
    }
    nvmlDevice_t d;
    CHECK(nvmlDeviceGetHandleByIndex_v2(0, &d) == NVML_SUCCESS);
    /* A pointer into the middle of a real handle is not a handle. */
    CHECK(nvmlDeviceGetIndex((nvmlDevice_t)((char *)d + 1), &v) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlDeviceGetIndex(d, NULL) == NVML_ERROR_INVALID_ARGUMENT);
}

static void test_getters(unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        nvmlDevice_t d;
        nvmlMemory_t mem;
        nvmlMemory_v2_t mem2;
        nvmlUtilization_t util;
        unsigned v, lo, hi;
        CHECK(nvmlDeviceGetHandleByIndex_v2(i, &d) == NVML_SUCCESS);
        CHECK(nvmlDeviceGetMemoryInfo(d, &mem) == NVML_SUCCESS && mem.total == mem.free + mem.used);
        mem2.version = nvmlMemory_v2;
        CHECK(nvmlDeviceGetMemoryInfo_v2(d, &mem2) == NVML_SUCCESS && mem2.total == mem.total);
        mem2.version = 1;
        CHECK(nvmlDeviceGetMemoryInfo_v2(d, &mem2) == NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
        CHECK(nvmlDeviceGetUtilizationRates(d, &util) == NVML_SUCCESS && util.gpu == 0);
        CHECK(nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS && v > 0);
        CHECK(nvmlDeviceGetTemperature(d, (nvmlTemperatureSensors_t)7, &v) ==
              NVML_ERROR_INVALID_ARGUMENT);
        CHECK(nvmlDeviceGetPowerUsage(d, &v) == NVML_SUCCESS && v > 0);
        CHECK(nvmlDeviceGetPowerManagementLimitConstraints(d, &lo, &hi) == NVML_SUCCESS && lo <= hi);
        CHECK(nvmlDeviceGetClockInfo(d, NVML_CLOCK_SM, &v) == NVML_SUCCESS && v > 0);
        CHECK(nvmlDeviceGetClockInfo(d, NVML_CLOCK_COUNT, &v) == NVML_ERROR_INVALID_ARGUMENT);
        unsigned n = 0;
        CHECK(nvmlDeviceGetSupportedMemoryClocks(d, &n, NULL) == NVML_ERROR_INSUFFICIENT_SIZE && n > 0);
        unsigned clocks[8];
        n = 8;
        CHECK(nvmlDeviceGetSupportedMemoryClocks(d, &n, clocks) == NVML_SUCCESS && n > 0);
        unsigned procs = 5;
        nvmlProcessInfo_t info[4];
        CHECK(nvmlDeviceGetComputeRunningProcesses_v3(d, &procs, info) == NVML_SUCCESS && procs == 0);
        procs = 0;
        CHECK(nvmlDeviceGetComputeRunningProcesses_v3(d, &procs, NULL) == NVML_SUCCESS && procs == 0);
        /* A query the mock does not support: NOT_SUPPORTED, never a crash. */
        nvmlEnableState_t mode;
        CHECK(nvmlDeviceGetAutoBoostedClocksEnabled(d, &mode, &mode) == NVML_ERROR_NOT_SUPPORTED);
    }
}

static void test_topology(unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        for (unsigned j = 0; j < count; j++) {
            nvmlDevice_t a, b;
            nvmlGpuTopologyLevel_t level;
            nvmlDeviceGetHandleByIndex_v2(i, &a);
            nvmlDeviceGetHandleByIndex_v2(j, &b);
            CHECK(nvmlDeviceGetTopologyCommonAncestor(a, b, &level) == NVML_SUCCESS);
            CHECK((level == NVML_TOPOLOGY_INTERNAL) == (i == j));
        }
    }
    nvmlDevice_t d, near[256];
    unsigned n = 0;
    nvmlDeviceGetHandleByIndex_v2(0, &d);
    CHECK(nvmlDeviceGetTopologyNearestGpus(d, NVML_TOPOLOGY_SYSTEM, &n, NULL) == NVML_SUCCESS);
    CHECK(n == count - 1);
    CHECK(nvmlDeviceGetTopologyNearestGpus(d, NVML_TOPOLOGY_SYSTEM, &n, near) == NVML_SUCCESS);
    unsigned long cpus[4];
    CHECK(nvmlDeviceGetCpuAffinity(d, 4, cpus) == NVML_SUCCESS && cpus[0] != 0);
}

static void test_events(void)
{
    nvmlEventSet_t set;
    nvmlEventData_t data;
    nvmlDevice_t d;
    nvmlDeviceGetHandleByIndex_v2(0, &d);
    CHECK(nvmlEventSetCreate(&set) == NVML_SUCCESS);
    CHECK(nvmlDeviceRegisterEvents(d, nvmlEventTypeXidCriticalError, set) == NVML_SUCCESS);
    double start = now_seconds();
    CHECK(nvmlEventSetWait_v2(set, &data, 100) == NVML_ERROR_TIMEOUT);
    CHECK(now_seconds() - start >= 0.099);
    CHECK(nvmlEventSetWait_v2(set, &data, 0) == NVML_ERROR_TIMEOUT);
    CHECK(nvmlEventSetFree(set) == NVML_SUCCESS);
    CHECK(nvmlEventSetWait_v2(set, &data, 10) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlEventSetFree(set) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlEventSetFree((nvmlEventSet_t)&data) == NVML_ERROR_INVALID_ARGUMENT);
}

/* Sets a program never frees are freed by the last shutdown: a pool of 256 is not used up by
 * 1000 init/create/shutdown cycles (also under ASan and valgrind). */
static void test_event_sets_left_open_over_init_cycles(void)
{
    nvmlEventSet_t set = NULL, first = NULL;
    for (unsigned i = 0; i < 1000; i++) {
        CHECK(nvmlInit_v2() == NVML_SUCCESS);
        CHECK(nvmlEventSetCreate(&set) == NVML_SUCCESS);
        if (i == 0)
            first = set;
        CHECK(nvmlShutdown() == NVML_SUCCESS);
    }
    CHECK(nvmlInit_v2() == NVML_SUCCESS);
    CHECK(nvmlEventSetFree(first) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlEventSetCreate(&set) == NVML_SUCCESS);
    CHECK(nvmlEventSetFree(set) == NVML_SUCCESS);
    CHECK(nvmlShutdown() == NVML_SUCCESS);
}

static nvmlDevice_t first_gpu(void)
{
    nvmlDevice_t d = NULL;
    CHECK(nvmlDeviceGetHandleByIndex_v2(0, &d) == NVML_SUCCESS);
    return d;
}

static void check_mig_mode(nvmlDevice_t d, unsigned want)
{
    unsigned current = 9, pending = 9;
    CHECK(nvmlDeviceGetMigMode(d, &current, &pending) == NVML_SUCCESS);
    CHECK(current == want && pending == want);
}

/* Without a state file (the built-in config has none) there is nowhere to keep a mode: refused
 * as a change the caller may not make, and nothing changes; bad arguments before that. */
static void test_set_mig_mode_without_state_file(void)
{
    nvmlReturn_t status = NVML_ERROR_UNKNOWN;
    CHECK(nvmlDeviceSetMigMode(NULL, NVML_DEVICE_MIG_ENABLE, &status) == NVML_ERROR_UNINITIALIZED);
    CHECK(nvmlInit_v2() == NVML_SUCCESS);
    nvmlDevice_t d = first_gpu();
    CHECK(nvmlDeviceSetMigMode(d, NVML_DEVICE_MIG_ENABLE, &status) == NVML_ERROR_NO_PERMISSION);
    CHECK(status == NVML_ERROR_UNKNOWN);
    CHECK(nvmlDeviceSetMigMode(d, 2, &status) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlDeviceSetMigMode(d, NVML_DEVICE_MIG_ENABLE, NULL) == NVML_ERROR_INVALID_ARGUMENT);
    CHECK(nvmlDeviceSetMigMode((nvmlDevice_t)&status, NVML_DEVICE_MIG_ENABLE, &status) ==
          NVML_ERROR_INVALID_ARGUMENT);
    check_mig_mode(d, NVML_DEVICE_MIG_DISABLE);
    CHECK(nvmlShutdown() == NVML_SUCCESS);
}

/* With a state file: the mode follows at once, GPU instances can be made, MIG cannot be left
 * while one exists, and a later init (as a later process) finds the mode kept. */
static void test_set_mig_mode_with_state_file(void)
{
    char dir[] = "/tmp/test_api.XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/nvml.state", dir);
    setenv("MOCK_NVML_STATE", path, 1);
    nvmlReturn_t status = NVML_ERROR_UNKNOWN;
    nvmlGpuInstance_t gi;
    CHECK(nvmlInit_v2() == NVML_SUCCESS);
    nvmlDevice_t d = first_gpu();
    CHECK(nvmlDeviceCreateGpuInstance(d, NVML_GPU_INSTANCE_PROFILE_1_SLICE, &gi) == NVML_ERROR_NOT_SUPPORTED);
    CHECK(nvmlDeviceSetMigMode(d, NVML_DEVICE_MIG_ENABLE, &status) == NVML_SUCCESS);
    CHECK(status == NVML_SUCCESS);
    check_mig_mode(d, NVML_DEVICE_MIG_ENABLE);
    CHECK(nvmlShutdown() == NVML_SUCCESS);

    CHECK(nvmlInit_v2() == NVML_SUCCESS);
    d = first_gpu();
    check_mig_mode(d, NVML_DEVICE_MIG_ENABLE);
    nvmlGpuInstanceProfileInfo_t info;
    CHECK(nvmlDeviceGetGpuInstanceProfileInfo(d, NVML_GPU_INSTANCE_PROFILE_1_SLICE, &info) == NVML_SUCCESS);
    CHECK(nvmlDeviceCreateGpuInstance(d, info.id, &gi) == NVML_SUCCESS);
    CHECK(nvmlDeviceSetMigMode(d, NVML_DEVICE_MIG_DISABLE, &status) == NVML_ERROR_IN_USE);
    check_mig_mode(d, NVML_DEVICE_MIG_ENABLE);
    CHECK(nvmlGpuInstanceDestroy(gi) == NVML_SUCCESS);
    CHECK(nvmlDeviceSetMigMode(d, NVML_DEVICE_MIG_DISABLE, &status) == NVML_SUCCESS);
    check_mig_mode(d, NVML_DEVICE_MIG_DISABLE);
    CHECK(nvmlDeviceCreateGpuInstance(d, info.id, &gi) == NVML_ERROR_NOT_SUPPORTED);
    CHECK(nvmlShutdown() == NVML_SUCCESS);

    unsetenv("MOCK_NVML_STATE");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_uninitialized();
    CHECK(nvmlInit_v2() == NVML_SUCCESS);
    CHECK(nvmlInit() == NVML_SUCCESS);
    unsigned count = 0;
    CHECK(nvmlDeviceGetCount_v2(&count) == NVML_SUCCESS && count > 0);
    if (count > 0) {
        test_enumeration(count);
        test_bad_handles();
        test_getters(count);
        test_topology(count);
        test_events();
    }
    CHECK(nvmlShutdown() == NVML_SUCCESS);
    CHECK(nvmlDeviceGetCount_v2(&count) == NVML_SUCCESS);
    CHECK(nvmlShutdown() == NVML_SUCCESS);
    CHECK(nvmlDeviceGetCount_v2(&count) == NVML_ERROR_UNINITIALIZED);
    test_event_sets_left_open_over_init_cycles();
    test_set_mig_mode_without_state_file();
    test_set_mig_mode_with_state_file();
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
