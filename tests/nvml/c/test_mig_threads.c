/*
 * MIG instances changing under readers, under the sanitizers: two writer threads create and
 * destroy a GPU instance with its compute instance, and set the MIG mode the GPU has (each change
 * a locked write of the live state, mig_state.c), while reader threads enumerate the MIG devices,
 * query them and read the mode. The program fails if a reader sees a number of MIG devices no
 * change explains, a MIG device with another memory size than its profile's, the GPU out of MIG
 * mode, or an error other than the one a destroyed instance gives.
 *
 *   test_mig_threads CONFIG STATE    (CONFIG: one A100 in MIG mode with [3g.20gb, 1g.5gb])
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvml.h"

#define READERS 4
#define WRITERS 2
#define ROUNDS 40
#define PROFILE_1G_5GB 19

static nvmlDevice_t g_gpu;
static atomic_int g_done;
static atomic_uint g_errors;

static void fail(const char *what, nvmlReturn_t rc)
{
    fprintf(stderr, "%s: %s\n", what, nvmlErrorString(rc));
    atomic_fetch_add(&g_errors, 1);
}

/* One MIG device: its memory must be one of the layout's or the created 1g.5gb's. */
static void check_mig_device(nvmlDevice_t mig)
{
    nvmlMemory_t memory;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    nvmlReturn_t rc = nvmlDeviceGetMemoryInfo(mig, &memory);
    if (rc == NVML_SUCCESS)
        rc = nvmlDeviceGetUUID(mig, uuid, sizeof uuid);
    if (rc == NVML_ERROR_INVALID_ARGUMENT)
        return;                                  /* destroyed since it was enumerated */
    if (rc != NVML_SUCCESS)
        fail("MIG device query", rc);
    else if (memory.total != 19968ULL << 20 && memory.total != 9856ULL << 20 &&
             memory.total != 4864ULL << 20)
        fail("MIG device memory is no profile's", NVML_ERROR_UNKNOWN);
    else if (strncmp(uuid, "MIG-", 4) != 0)
        fail("MIG device UUID", NVML_ERROR_UNKNOWN);
}

static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_done)) {
        unsigned n = 0, current, pending;
        nvmlReturn_t mode_rc = nvmlDeviceGetMigMode(g_gpu, &current, &pending);
        if (mode_rc != NVML_SUCCESS)
            fail("nvmlDeviceGetMigMode", mode_rc);
        else if (current != NVML_DEVICE_MIG_ENABLE || pending != NVML_DEVICE_MIG_ENABLE)
            fail("MIG mode", NVML_ERROR_UNKNOWN);
        for (unsigned i = 0; i < 7; i++) {
            nvmlDevice_t mig;
            nvmlReturn_t rc = nvmlDeviceGetMigDeviceHandleByIndex(g_gpu, i, &mig);
            if (rc == NVML_ERROR_NOT_FOUND)
                break;
            if (rc != NVML_SUCCESS) {
                fail("nvmlDeviceGetMigDeviceHandleByIndex", rc);
                break;
            }
            check_mig_device(mig);
            n++;
        }
        if (n < 2 || n > 2 + WRITERS)
            fail("MIG device count", NVML_ERROR_UNKNOWN);
    }
    return NULL;
}

/* Create a 1g.5gb with its compute instance, then destroy both; the GPU has room for two. */
static void *writer(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        nvmlGpuInstance_t gi;
        nvmlComputeInstance_t ci;
        nvmlReturn_t status;
        nvmlReturn_t rc = nvmlDeviceSetMigMode(g_gpu, NVML_DEVICE_MIG_ENABLE, &status);
        if (rc == NVML_SUCCESS)
            rc = nvmlDeviceCreateGpuInstance(g_gpu, PROFILE_1G_5GB, &gi);
        if (rc == NVML_SUCCESS)
            rc = nvmlGpuInstanceCreateComputeInstance(gi, NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE, &ci);
        if (rc == NVML_SUCCESS)
            rc = nvmlComputeInstanceDestroy(ci);
        if (rc == NVML_SUCCESS)
            rc = nvmlGpuInstanceDestroy(gi);
        if (rc != NVML_SUCCESS)
            fail("create and destroy", rc);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG STATE\n", argv[0]);
        return 2;
    }
    unlink(argv[2]);
    setenv("MOCK_NVML_CONFIG", argv[1], 1);
    setenv("MOCK_NVML_STATE", argv[2], 1);
    nvmlReturn_t rc = nvmlInit_v2();
    if (rc == NVML_SUCCESS)
        rc = nvmlDeviceGetHandleByIndex_v2(0, &g_gpu);
    if (rc != NVML_SUCCESS) {
        fail("nvmlInit_v2 and handle", rc);
        return 1;
    }
    pthread_t readers[READERS], writers[WRITERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&readers[i], NULL, reader, NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&writers[i], NULL, writer, NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writers[i], NULL);
    atomic_store(&g_done, 1);
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    nvmlShutdown();
    unsigned errors = atomic_load(&g_errors);
    printf("MIG changes under readers: %u errors\n", errors);
    return errors == 0 ? 0 : 1;
}
